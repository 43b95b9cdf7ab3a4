//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/internal/testbed"
)

type upOptions struct {
	topology string
	runID    string
}

func newUpCommand(e env) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up -t TOPOLOGY",
		Short: "Build a lab from a topology file and run it until Ctrl-C",
		Long: `Build the lab a topology file describes and keep it running in the
foreground until Ctrl-C (or SIGTERM, which "tabby-lab down" sends).

up makes the namespaces, veths, routes and listeners; starts the datastore
(an embedded etcd on a free loopback port, or ETCD_ENDPOINTS); writes the
topology's WorkloadEndpoints, HostEndpoints and namespace and
service-account profiles to it; and starts one agent per host, which
programs that host's nftables. When every agent has programmed its host it
prints where the datastore is: point calicoctl at it with ETCD_ENDPOINTS
(tabby-lab endpoints prints it) and policy you apply is enforced within
milliseconds. "tabby-lab probe" and "tabby-lab matrix", from another
terminal, send probes through this process.

On exit it removes everything it made: namespaces (and with them every
interface, route and nftables rule), the embedded etcd's data, and from an
external etcd the resources it wrote. If it is killed, "tabby-lab down"
removes the leftovers, as does the next "tabby-lab up" of the same run.

Topology file (YAML; see examples/lab/):

  hosts:
  - name: node-1                    # the Calico node name
    workloads:
    - namespace: x                  # with name: the pod
      name: a
      labels: {app: web}
      serviceAccount: default       # optional
      ips: [10.100.1.1, "fd00:100::1:1"]
      ports:                        # served by the lab; named ports
      - {port: 80, protocol: TCP, name: http}   # become endpoint ports
      interfaceName: cali1234       # optional; default: Calico's name
    hostEndpoints:                  # optional: Calico HostEndpoints
    - name: node-1-eth0
      interfaceName: eth0           # the host's fabric interface, "*" or empty
      labels: {role: node}
      ports: [{port: 22, protocol: TCP, name: ssh}]`,
		Example: `  tabby-lab up -t examples/lab/two-hosts.yaml
  tabby-lab up -t my-cluster.yaml --run mine     # a second lab beside the first`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.topology, "topology", "t", "", "topology file (YAML or JSON)")
	f.StringVar(&o.runID, "run", upRunID, "name of this lab (1 to 12 lower-case letters and digits), for probe, matrix and down")
	return cmd
}

func runUp(ctx context.Context, e env, o upOptions) (err error) {
	topo, err := readTopology(o.topology)
	if err != nil {
		return err
	}
	r, err := begin(e, o.runID, o.topology)
	if err != nil {
		return err
	}
	defer end(e, r)
	ecfg, err := etcdFromEnv(e.getenv)
	if err != nil {
		return err
	}
	l, err := testbed.Up(ctx, topo, testbed.Options{
		RunID:    o.runID,
		Etcd:     ecfg,
		DataDir:  r.DataDir,
		Logger:   slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Progress: progress(e.stderr),
	})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintf(e.stderr, "tabby-lab: tearing lab %q down\n", o.runID)
		if derr := l.Down(); derr != nil && err == nil {
			err = derr
		}
	}()
	r.Etcd = l.EtcdEndpoints()
	if err := r.Save(); err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- testbed.Serve(ctx, l, r.Socket) }()
	eps := strings.Join(r.Etcd, ",")
	fmt.Fprintf(e.stdout, `lab %q is up: %d hosts, %d workloads, an agent per host; datastore %s

  export ETCD_ENDPOINTS=%s
  calicoctl apply -f policy.yaml
  tabby-lab matrix%s
  tabby-lab probe%s --from NS/NAME --to NS/NAME --protocol TCP --port PORT

Ctrl-C here, or tabby-lab down%s, tears it down.
`, o.runID, len(topo.Hosts), len(l.Fabric().Workloads()), eps, eps, runFlag(o.runID), runFlag(o.runID), runFlag(o.runID))
	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		return err
	}
}

// runFlag is the --run flag a command needs to reach lab id.
func runFlag(id string) string {
	if id == upRunID {
		return ""
	}
	return " --run " + id
}
