// Package web is tabby-node's local web view: plain server-rendered HTML
// (html/template, no script, no stylesheet or font from elsewhere, so it
// works with no internet access) over the datastore's resources and the
// flow aggregator.
//
//	/           links to the pages
//	/endpoints  every endpoint, its addresses and, per direction, the tiers
//	            and policies that select it in order (analysis.For), then
//	            its profiles
//	/matrix     the connectivity matrix (analysis.Matrix) for ?port=80,81
//	            &protocol=TCP,UDP (default TCP/80): one grid per service,
//	            each cell a link to the trace of its flow; a model of more
//	            than Config.MaxMatrixEndpoints endpoints is refused (the
//	            work grows with their square)
//	/flows      the live flow log (refreshed every few seconds) with the
//	            denied and namespace filters; each flow links to its trace
//	/trace      a form (from, to, protocol, port) and the engine's trace of
//	            that flow (analysis.Trace)
//	/api/flows  the flow API of package flows
//
// Every page reads the policy model from Config.Model as the request
// arrives, so a page shows the datastore as it was at most ModelCache's
// TTL ago. Verdicts are the engine's: the handler adds nothing to them.
//
// Cells, rows and verdicts carry data- attributes (data-from, data-to,
// data-service, data-verdict, data-policy) so that tests and scripts can
// read a page without parsing its layout.
package web
