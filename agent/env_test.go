package agent

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func ports(pp ...v3.ProtoPort) *[]v3.ProtoPort { return &pp }

func TestFromEnv(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	defaults := func(e Env) Env {
		if e.NodeName == "" {
			e.NodeName = "node-1"
		}
		if e.MetricsAddr == "" {
			e.MetricsAddr = DefaultMetricsAddr
		}
		if e.LogGroup == 0 {
			e.LogGroup = DefaultLogGroup
		}
		if e.FlowLogFile == "" {
			e.FlowLogFile = "-"
		}
		return e
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Env
		wantErr string
	}{
		{
			name: "NODENAME names the node, lower-cased",
			env:  map[string]string{"NODENAME": " Node-1 ", "HOSTNAME": "other"},
			want: defaults(Env{}),
		},
		{
			name: "HOSTNAME names the node without NODENAME",
			env:  map[string]string{"HOSTNAME": "Worker-7"},
			want: defaults(Env{NodeName: "worker-7"}),
		},
		{
			name: "the kernel's host name names the node without either",
			env:  map[string]string{},
			want: defaults(Env{NodeName: strings.ToLower(host)}),
		},
		{
			name: "FELIX_ variables set the Felix fields Tabby uses",
			env: map[string]string{
				"NODENAME":                          "node-1",
				"FELIX_FAILSAFEINBOUNDHOSTPORTS":    "tcp:22, udp:68,sctp:10.0.0.0/8:2379, 6443, tcp:[fd00::]/64:179",
				"FELIX_FAILSAFEOUTBOUNDHOSTPORTS":   "none",
				"FELIX_DEFAULTENDPOINTTOHOSTACTION": "ACCEPT",
				"FELIX_DROPACTIONOVERRIDE":          "loganddrop",
				"FELIX_LOGPREFIX":                   "tabby",
				"FELIX_INTERFACEPREFIX":             "cali,tap",
			},
			want: defaults(Env{
				Felix: v3.FelixConfigurationSpec{
					FailsafeInboundHostPorts: ports(
						v3.ProtoPort{Protocol: "TCP", Port: 22}, v3.ProtoPort{Protocol: "UDP", Port: 68},
						v3.ProtoPort{Protocol: "SCTP", Net: "10.0.0.0/8", Port: 2379}, v3.ProtoPort{Protocol: "TCP", Port: 6443},
						v3.ProtoPort{Protocol: "TCP", Net: "fd00::/64", Port: 179}),
					FailsafeOutboundHostPorts:   ports(),
					DefaultEndpointToHostAction: "Accept",
					DropActionOverride:          "LogAndDrop",
					LogPrefix:                   "tabby",
				},
				WorkloadInterfacePrefixes: []string{"cali", "tap"},
			}),
		},
		{
			name: "metrics follow Felix's variables but stay on loopback by default",
			env:  map[string]string{"NODENAME": "node-1", "FELIX_PROMETHEUSMETRICSPORT": "9191"},
			want: defaults(Env{MetricsAddr: "127.0.0.1:9191"}),
		},
		{
			name: "an IPv6 metrics host is bracketed",
			env:  map[string]string{"NODENAME": "node-1", "FELIX_PROMETHEUSMETRICSHOST": "::1"},
			want: defaults(Env{MetricsAddr: "[::1]:9091"}),
		},
		{
			name: "metrics can be turned off",
			env:  map[string]string{"NODENAME": "node-1", "FELIX_PROMETHEUSMETRICSENABLED": "false"},
			want: func() Env { e := defaults(Env{}); e.MetricsAddr = ""; return e }(),
		},
		{
			name: "TABBY_ variables set the nflog group, the flow log and the ready file",
			env: map[string]string{"NODENAME": "node-1", "TABBY_NFLOG_GROUP": "3",
				"TABBY_FLOW_LOG_FILE": "/var/log/tabby/flows.log", "TABBY_READY_FILE": "/run/tabby/ready"},
			want: defaults(Env{LogGroup: 3, FlowLogFile: "/var/log/tabby/flows.log", ReadyFile: "/run/tabby/ready"}),
		},
		{
			name: "flow logs can be turned off",
			env:  map[string]string{"NODENAME": "node-1", "TABBY_FLOW_LOG_FILE": "none"},
			want: func() Env { e := defaults(Env{}); e.FlowLogFile = ""; return e }(),
		},
		{
			name: "every bad variable is reported",
			env: map[string]string{"NODENAME": "node-1", "FELIX_FAILSAFEINBOUNDHOSTPORTS": "tcp:http",
				"FELIX_DROPACTIONOVERRIDE": "Explode", "FELIX_PROMETHEUSMETRICSPORT": "0", "TABBY_NFLOG_GROUP": "70000",
				"FELIX_PROMETHEUSMETRICSENABLED": "maybe"},
			wantErr: "FELIX_FAILSAFEINBOUNDHOSTPORTS|FELIX_DROPACTIONOVERRIDE|FELIX_PROMETHEUSMETRICSPORT|TABBY_NFLOG_GROUP|FELIX_PROMETHEUSMETRICSENABLED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if !errors.Is(err, ErrEnv) {
					t.Fatalf("error %v, want ErrEnv", err)
				}
				for _, v := range strings.Split(tt.wantErr, "|") {
					if !strings.Contains(err.Error(), v) {
						t.Errorf("error %q does not name %s", err, v)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestEnvConfig(t *testing.T) {
	store := newFaultStore()
	e := Env{NodeName: "node-1", LogGroup: 3, FlowLogFile: "-", ReadyFile: "/run/ready",
		Felix: v3.FelixConfigurationSpec{LogPrefix: "tabby"}, WorkloadInterfacePrefixes: []string{"tap"}}
	c := e.Config(store, nil, os.Stdout, nil)
	a, err := New(c)
	if err != nil {
		t.Fatalf("New(Env.Config): %v", err)
	}
	if got := baseDataplaneConfig(a.cfg); got.LogGroup != 3 || got.LogPrefix != "tabby" || got.WorkloadInterfacePrefixes[0] != "tap" {
		t.Errorf("dataplane configuration %+v", got)
	}
	if c.NodeName != "node-1" || c.ReadyFile != "/run/ready" || c.FlowLog != os.Stdout || c.Store != store {
		t.Errorf("config %+v", c)
	}

	e.LogGroup = 0
	if c := e.Config(store, nil, os.Stdout, nil); c.FlowLog != nil {
		t.Error("flow logs configured without an nflog group")
	}
	if w, err := e.OpenFlowLog(); w != nil || err != nil {
		t.Errorf("OpenFlowLog without an nflog group = %v, %v", w, err)
	}
	e.LogGroup, e.FlowLogFile = 3, t.TempDir()+"/flows.log"
	w, err := e.OpenFlowLog()
	if err != nil {
		t.Fatal(err)
	}
	w.(*os.File).Close()
	if _, err := os.Stat(e.FlowLogFile); err != nil {
		t.Errorf("flow log file not created: %v", err)
	}
}
