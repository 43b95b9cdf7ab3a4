package openstack

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/memory"
)

// TestExamplesAreWhatTheSyncWrites keeps examples/openstack honest: each
// sample endpoint and group policy there is exactly what a sync of the
// fixtures writes.
func TestExamplesAreWhatTheSyncWrites(t *testing.T) {
	store := memory.New()
	mustSync(t, newSyncer(t, newFakeCloud(t, "region-one", "RegionOne").client(t), store, "one"))
	mustSync(t, newSyncer(t, newFakeCloud(t, "region-two", "RegionTwo").client(t), store, "two"))
	files, err := filepath.Glob(filepath.Join("..", "examples", "openstack", "[12]*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f)+" matches the synced resource", func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := v3.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range objs {
				v3.Default(want)
				got, err := store.Get(context.Background(), v3.KeyOf(want))
				if err != nil {
					t.Fatal(err)
				}
				wj, _ := contentJSON(want)
				gj, _ := contentJSON(got)
				if diff := cmp.Diff(string(wj), string(gj)); diff != "" {
					t.Errorf("%v (-example +synced):\n%s", v3.KeyOf(want), diff)
				}
			}
		})
	}
}
