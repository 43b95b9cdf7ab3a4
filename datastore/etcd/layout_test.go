package etcd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	calicov3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	clientv3 "go.etcd.io/etcd/client/v3"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// writeFixture is a resource as Tabby is given it and the etcd key and
// value Calico would store for it. "*" as uid or creationTimestamp means
// any non-empty value.
type writeFixture struct {
	Description string          `json:"description"`
	Object      json.RawMessage `json:"object"`
	Key         string          `json:"key"`
	Value       map[string]any  `json:"value"`
}

// readFixture is an etcd key and value as some Calico version wrote it,
// the key Tabby users name it by, and the object they must get.
type readFixture struct {
	Description string         `json:"description"`
	Key         string         `json:"key"`
	Value       map[string]any `json:"value"`
	Get         v3.Key         `json:"get"`
	Want        map[string]any `json:"want"`
}

func loadFixtures[T any](t *testing.T, dir string) map[string]T {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	out := make(map[string]T)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fx T
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fx); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = fx
	}
	return out
}

// decodeObject decodes a resource strictly into its Tabby type.
func decodeObject(t *testing.T, data []byte) v3.Object {
	t.Helper()
	var tm struct{ Kind string }
	if err := json.Unmarshal(data, &tm); err != nil {
		t.Fatal(err)
	}
	info, ok := v3.LookupKind(tm.Kind)
	if !ok {
		t.Fatalf("unknown kind %q", tm.Kind)
	}
	obj := info.New()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		t.Fatalf("decode %s: %v", tm.Kind, err)
	}
	return obj
}

// calicoTypes are Calico's own Go types for the kinds projectcalico/api
// publishes (WorkloadEndpoint lives in libcalico-go, not there).
var calicoTypes = map[string]func() any{
	v3.KindNetworkPolicy:             func() any { return &calicov3.NetworkPolicy{} },
	v3.KindGlobalNetworkPolicy:       func() any { return &calicov3.GlobalNetworkPolicy{} },
	v3.KindStagedNetworkPolicy:       func() any { return &calicov3.StagedNetworkPolicy{} },
	v3.KindStagedGlobalNetworkPolicy: func() any { return &calicov3.StagedGlobalNetworkPolicy{} },
	v3.KindTier:                      func() any { return &calicov3.Tier{} },
	v3.KindNetworkSet:                func() any { return &calicov3.NetworkSet{} },
	v3.KindGlobalNetworkSet:          func() any { return &calicov3.GlobalNetworkSet{} },
	v3.KindProfile:                   func() any { return &calicov3.Profile{} },
	v3.KindHostEndpoint:              func() any { return &calicov3.HostEndpoint{} },
	v3.KindFelixConfiguration:        func() any { return &calicov3.FelixConfiguration{} },
}

// rawStore reads and writes etcd directly, as another Calico would.
type rawStore struct{ c *clientv3.Client }

// getKV returns the parsed value at key, its bytes and its mod revision.
func (r rawStore) getKV(t *testing.T, key string) (map[string]any, []byte, int64) {
	t.Helper()
	resp, err := r.c.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("raw get %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("raw get %s: %d keys, want 1", key, len(resp.Kvs))
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
		t.Fatalf("value at %s is not JSON: %v", key, err)
	}
	return m, resp.Kvs[0].Value, resp.Kvs[0].ModRevision
}

func (r rawStore) get(t *testing.T, key string) map[string]any {
	t.Helper()
	m, _, _ := r.getKV(t, key)
	return m
}

// keys returns every key under /calico/, sorted.
func (r rawStore) keys(t *testing.T) []string {
	t.Helper()
	resp, err := r.c.Get(context.Background(), "/calico/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// put stores value's JSON at key and returns the revision of the write.
func (r rawStore) put(t *testing.T, key string, value any) int64 {
	t.Helper()
	data, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.c.Put(context.Background(), key, string(data))
	if err != nil {
		t.Fatalf("raw put %s: %v", key, err)
	}
	return resp.Header.Revision
}

func (r rawStore) del(t *testing.T, key string) {
	t.Helper()
	if _, err := r.c.Delete(context.Background(), key); err != nil {
		t.Fatalf("raw delete %s: %v", key, err)
	}
}

// toMap turns an object into the generic JSON form fixtures use.
func toMap(t *testing.T, o any) map[string]any {
	t.Helper()
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWriteUsesCalicoLayout(t *testing.T) {
	for file, fx := range loadFixtures[writeFixture](t, "write") {
		t.Run(fx.Description, func(t *testing.T) {
			s, raw := newStore(t), rawStore{rawClient(t)}
			in := decodeObject(t, fx.Object)
			created, err := s.Create(context.Background(), in)
			if err != nil {
				t.Fatalf("%s: Create: %v", file, err)
			}
			if diff := cmp.Diff([]string{fx.Key}, raw.keys(t)); diff != "" {
				t.Errorf("keys written (-want +got):\n%s", diff)
			}
			got, rawValue, mod := raw.getKV(t, fx.Key)
			if strconv.FormatInt(mod, 10) != created.GetResourceVersion() {
				t.Errorf("resourceVersion %s, want the key's mod revision %d", created.GetResourceVersion(), mod)
			}
			want := fx.Value
			md, _ := got["metadata"].(map[string]any)
			wmd := want["metadata"].(map[string]any)
			for _, f := range []string{"uid", "creationTimestamp"} {
				if v, _ := md[f].(string); v == "" {
					t.Errorf("stored metadata.%s is missing", f)
				} else if wmd[f] == "*" {
					wmd[f] = v
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stored value (-want +got):\n%s", diff)
			}
			// Calico's own types must read the value without loss: decoded
			// strictly and encoded again, it is the same JSON, but for
			// fields Calico always writes (such as FelixConfiguration's
			// bpfLogLevel) that Tabby leaves out when empty.
			if newCalico, ok := calicoTypes[v3.KindOf(in)]; ok {
				cobj := newCalico()
				dec := json.NewDecoder(bytes.NewReader(rawValue))
				dec.DisallowUnknownFields()
				if err := dec.Decode(cobj); err != nil {
					t.Fatalf("stored value does not decode strictly into Calico's type: %v", err)
				}
				if diff := cmp.Diff(dropZeroAbsent(toMap(t, cobj), got), got); diff != "" {
					t.Errorf("stored value differs from Calico's encoding of it (-calico +stored):\n%s", diff)
				}
			}
		})
	}
}

func TestReadsWhatCalicoWrote(t *testing.T) {
	ctx := context.Background()
	for _, fx := range loadFixtures[readFixture](t, "read") {
		t.Run(fx.Description, func(t *testing.T) {
			s, raw := newStore(t), rawStore{rawClient(t)}
			mod := raw.put(t, fx.Key, fx.Value)
			// The wanted object goes through its Tabby type, so that it is
			// compared in the encoding Tabby gives every object.
			wantJSON, err := json.Marshal(fx.Want)
			if err != nil {
				t.Fatal(err)
			}
			want := toMap(t, decodeObject(t, wantJSON))
			want["metadata"].(map[string]any)["resourceVersion"] = strconv.FormatInt(mod, 10)

			got, err := s.Get(ctx, fx.Get)
			if err != nil {
				t.Fatalf("Get %v: %v", fx.Get, err)
			}
			if diff := cmp.Diff(want, toMap(t, got)); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
			l, err := s.List(ctx, fx.Get.Kind, "")
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(l.Items) != 1 {
				t.Fatalf("List returned %d items, want 1", len(l.Items))
			}
			if diff := cmp.Diff(want, toMap(t, l.Items[0])); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			if _, err := s.Delete(ctx, fx.Get, strconv.FormatInt(mod, 10)); err != nil {
				t.Fatalf("Delete %v: %v", fx.Get, err)
			}
			if keys := raw.keys(t); len(keys) != 0 {
				t.Errorf("keys left after Delete: %v", keys)
			}
		})
	}
}

// dropZeroAbsent removes from calico, recursively, the zero-valued fields
// that stored does not have.
func dropZeroAbsent(calico, stored map[string]any) map[string]any {
	out := make(map[string]any, len(calico))
	for k, v := range calico {
		sv, inStored := stored[k]
		switch {
		case !inStored && isZeroJSON(v):
		case inStored:
			cm, ok1 := v.(map[string]any)
			sm, ok2 := sv.(map[string]any)
			if ok1 && ok2 {
				v = dropZeroAbsent(cm, sm)
			}
			out[k] = v
		default:
			out[k] = v
		}
	}
	return out
}

func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}
