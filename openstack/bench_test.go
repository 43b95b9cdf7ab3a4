package openstack

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
	"github.com/tabby-project/tabby/datastore/memory"
)

// largeCloud is a region of ports VM ports spread over groups security
// groups (two groups a port, four rules a group).
func largeCloud(b *testing.B, ports, groups int) *fakeCloud {
	cloud := newFakeCloud(b, "region-one", "RegionOne")
	cloud.edit(func(items map[string][]map[string]any) {
		sgs := make([]map[string]any, groups)
		for g := range sgs {
			id := fmt.Sprintf("5e000000-0000-4000-8000-%012d", g)
			rule := func(i int, dir string, proto, lo, hi, prefix, group any) map[string]any {
				return map[string]any{"id": fmt.Sprintf("%s-r%d", id, i), "security_group_id": id, "direction": dir,
					"ethertype": "IPv4", "protocol": proto, "port_range_min": lo, "port_range_max": hi,
					"remote_ip_prefix": prefix, "remote_group_id": group}
			}
			sgs[g] = map[string]any{"id": id, "name": fmt.Sprintf("group-%d", g), "project_id": superman, "stateful": true,
				"security_group_rules": []any{
					rule(0, "ingress", "tcp", 443, 443, "0.0.0.0/0", nil),
					rule(1, "ingress", "tcp", 22, 22, nil, id),
					rule(2, "ingress", "icmp", 8, nil, nil, nil),
					rule(3, "egress", nil, nil, nil, nil, nil),
				}}
		}
		ps := make([]map[string]any, ports)
		for i := range ps {
			id := fmt.Sprintf("9a000000-0000-4000-8000-%012d", i)
			ps[i] = map[string]any{"id": id, "device_id": fmt.Sprintf("d0000000-0000-4000-8000-%012d", i),
				"device_owner": "compute:nova", "binding:host_id": fmt.Sprintf("compute-%d", i%100),
				"mac_address":     fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
				"fixed_ips":       []any{map[string]any{"subnet_id": "6c5a4b3d-2e1f-4a0b-9c8d-7e6f5a4b3c01", "ip_address": fmt.Sprintf("10.%d.%d.%d", 100+i>>16, i>>8&0xff, i&0xff)}},
				"security_groups": []any{sgs[i%groups]["id"], sgs[(i+1)%groups]["id"]},
				"project_id":      superman, "network_id": "3d4b6f1e-0c1a-4d6e-9b5f-1a2b3c4d5e01", "allowed_address_pairs": []any{}}
		}
		items["ports"], items["security_groups"], items["floatingips"] = ps, sgs, []map[string]any{}
	})
	return cloud
}

// benchSync measures a first sync (everything created) and a resync with
// nothing changed; each iteration writes a fresh region namespace.
func benchSync(b *testing.B, store datastore.Store) {
	const ports, groups = 5000, 500
	cloud := largeCloud(b, ports, groups)
	c := cloud.client(b)
	var first, again time.Duration
	iter := 0
	for b.Loop() {
		iter++
		s := newSyncer(b, c, store, fmt.Sprintf("bench-%d", iter))
		start := time.Now()
		res := mustSync(b, s)
		first += time.Since(start)
		if res.Created != ports+groups {
			b.Fatalf("result %+v, want %d created", res, ports+groups)
		}
		start = time.Now()
		if res := mustSync(b, s); res.Unchanged != ports+groups {
			b.Fatalf("resync %+v, want all unchanged", res)
		}
		again += time.Since(start)
	}
	b.ReportMetric(first.Seconds()/float64(iter), "s/full-sync")
	b.ReportMetric(again.Seconds()/float64(iter), "s/unchanged-resync")
}

func BenchmarkSync5000Ports500Groups(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchSync(b, memory.New(memory.WithHistory(100)))
	})
	b.Run("embedded-etcd", func(b *testing.B) {
		ctx := context.Background()
		srv, err := embedded.Start(ctx, embedded.Config{Dir: filepath.Join(b.TempDir(), "etcd"), ClientURL: "http://127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		s, err := etcd.Open(ctx, etcd.Config{Endpoints: srv.Endpoints()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		benchSync(b, s)
	})
}
