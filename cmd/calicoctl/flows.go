package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/flows"
)

// flowsServerEnv names the variable that overrides the default flow API
// address.
const flowsServerEnv = "TABBY_FLOWS_URL"

// flowsOptions are the flags of calicoctl flows.
type flowsOptions struct {
	follow    bool
	denied    bool
	namespace string
	since     string
	server    string
	output    string
}

func newFlowsCommand(s streams) *cobra.Command {
	var o flowsOptions
	cmd := &cobra.Command{
		Use:   "flows [--follow] [--denied] [-n NAMESPACE] [--since 5m] [--server URL] [-o text|json]",
		Short: "Show the flows tabby-node logged: what was denied or logged, and by which policy",
		Long: `Show the flows of the packets that Log rules and logged drops sent to
tabby-node's flow log, as tabby-node aggregates them: one line per 5-tuple,
direction, action and deciding rule, with first and last seen and the packet
count (flow-log records carry no length, so there is no byte count). The
newest flows come first.

The flows are read from tabby-node's local flow API, by default
http://127.0.0.1:9092 (tabby-node serves it on loopback only); --server or
TABBY_FLOWS_URL name another.

--denied keeps the flows whose packets were dropped; -n keeps those whose
source or destination endpoint, or deciding NetworkPolicy, is in the
namespace; --since keeps those seen in the last duration (or since an RFC 3339
time). With --follow the command prints the flows, then every update of a
flow as it happens, until interrupted.

With -o json the output is a JSON array of flows; with --follow, one JSON
flow per line.`,
		Example: `  # What did the policy drop on this host?
  calicoctl flows --denied

  # Follow the flows of namespace prod as they happen
  calicoctl flows --follow -n prod

  # The last five minutes, as JSON, from another tabby-node's API
  calicoctl flows --since 5m -o json --server http://127.0.0.1:19092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFlows(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "print updates as they happen, until interrupted")
	f.BoolVar(&o.denied, "denied", false, "only flows whose packets were dropped")
	f.StringVarP(&o.namespace, "namespace", "n", "", "only flows of this namespace")
	f.StringVar(&o.since, "since", "", "only flows seen in this last duration (5m) or since this RFC 3339 time")
	f.StringVar(&o.server, "server", "", "URL of tabby-node's flow API (default $"+flowsServerEnv+", else http://"+flows.DefaultAddr+")")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// flowsURL is the address of the flow API and the query of the options.
func (o flowsOptions) flowsURL(path string) (string, error) {
	base := o.server
	if base == "" {
		base = os.Getenv(flowsServerEnv)
	}
	if base == "" {
		base = "http://" + flows.DefaultAddr
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid flow API URL %q: want http://host:port", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	q := url.Values{}
	if o.denied {
		q.Set("denied", "true")
	}
	if o.namespace != "" {
		q.Set("namespace", o.namespace)
	}
	if o.since != "" {
		q.Set("since", o.since)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func runFlows(ctx context.Context, s streams, o flowsOptions) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	path := "/api/flows"
	if o.follow {
		path = "/api/flows/stream"
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	u, err := o.flowsURL(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("flows: %w", err)
	}
	client := &http.Client{}
	if !o.follow {
		client.Timeout = 30 * time.Second
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return failf(s, "Failed to reach the flow API at %s: %v\n(is tabby-node running on this host? --server or %s name another)", u, err, flowsServerEnv)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return failf(s, "The flow API at %s answered %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
	}
	if !o.follow {
		var list []flows.Flow
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			return fmt.Errorf("read the flows from %s: %w", u, err)
		}
		if o.output == "json" {
			return printJSON(s.out, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(s.out, "No flows.")
			return nil
		}
		tw := tabwriter.NewWriter(s.out, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(flowColumns, "\t"))
		for _, f := range list {
			fmt.Fprintln(tw, strings.Join(flowFields(f), "\t"))
		}
		return tw.Flush()
	}
	return followFlows(ctx, s, o, resp.Body)
}

// followFlows prints the server-sent flow events of r as they come, until
// the stream or ctx ends.
func followFlows(ctx context.Context, s streams, o flowsOptions, r io.Reader) error {
	if o.output == "text" {
		fmt.Fprintln(s.out, followLine(flowColumns))
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if o.output == "json" {
			fmt.Fprintln(s.out, data)
			continue
		}
		var f flows.Flow
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			return fmt.Errorf("read a flow event: %w", err)
		}
		fmt.Fprintln(s.out, followLine(flowFields(f)))
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("read the flow stream: %w", err)
	}
	return nil
}

// flowColumns head the text output.
var flowColumns = []string{"LAST SEEN", "SOURCE", "DESTINATION", "PROTOCOL", "PORT", "DIRECTION", "ACTION", "DECIDED BY", "PACKETS"}

// followWidths are the column widths of the streamed text output, which
// cannot be aligned on the widest value.
var followWidths = []int{19, 30, 30, 8, 5, 9, 6, 40, 0}

func followLine(fields []string) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString("  ")
		}
		if w := followWidths[i]; w > 0 {
			fmt.Fprintf(&b, "%-*s", w, f)
		} else {
			b.WriteString(f)
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// flowFields is the text row of a flow.
func flowFields(f flows.Flow) []string {
	peer := func(name string, addr fmt.Stringer, port uint16) string {
		s := addr.String()
		if port != 0 {
			s += ":" + strconv.Itoa(int(port))
		}
		if name != "" {
			s = name + " (" + s + ")"
		}
		return s
	}
	port := ""
	if f.DstPort != 0 {
		port = strconv.Itoa(int(f.DstPort))
	}
	return []string{
		f.LastSeen.Local().Format(time.DateTime),
		peer(f.SrcName, f.Src, f.SrcPort), peer(f.DstName, f.Dst, 0),
		f.Proto, port, f.Direction, f.Action, f.DecidedBy(), strconv.FormatUint(f.Packets, 10),
	}
}
