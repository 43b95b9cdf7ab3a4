// Command calicoctl is Tabby's drop-in replacement for Calico's calicoctl:
// the same verbs, flags, resource files and messages, working on Tabby's
// datastore, plus commands that answer questions about policy.
//
// # Layout
//
// main.go only wires the process to run, which builds the command tree
// against explicit streams so that tests run every command in-process:
//
//	main ─► run(args, stdin, stdout, stderr) ─► newRootCommand(streams)
//	                                               ├─ newValidateCommand  (validate.go)
//	                                               └─ newVersionCommand   (version.go)
//
// Each verb lives in its own file with a constructor newXCommand(streams)
// that returns its *cobra.Command; root.go adds it. Helpers shared by verbs
// that take resource files: files.go (the -f FILE|DIR|- and -R expansion)
// and namespace.go (calicoctl's namespace rules for resources read from
// files). There is no package-level state: everything a command needs is
// passed to its constructor.
//
// # Exit status and output
//
// A command writes its results to stdout and its problems to stderr. It
// exits 0 on success and 1 on failure; when a command has already printed
// its problems it returns an exitError so that run prints nothing more.
package main
