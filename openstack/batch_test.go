package openstack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/memory"
)

// limitedStore is a memory store whose transactions are refused above max
// operations (as etcd's --max-txn-ops does) and whose writes to one key
// fail, recording the size of every transaction it accepts.
type limitedStore struct {
	datastore.Store
	max    int
	broken v3.Key

	mu    sync.Mutex
	sizes []int
}

func (s *limitedStore) Txn(ctx context.Context, ops []datastore.Op) ([]v3.Object, error) {
	if len(ops) > s.max {
		return nil, fmt.Errorf("txn of %d: %w", len(ops), datastore.ErrTooLarge)
	}
	for _, op := range ops {
		if op.Target() == s.broken {
			return nil, datastore.ConflictError(s.broken)
		}
	}
	out, err := s.Store.Txn(ctx, ops)
	if err == nil {
		s.mu.Lock()
		s.sizes = append(s.sizes, len(ops))
		s.mu.Unlock()
	}
	return out, err
}

func TestWritesAreBatched(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	web2 := v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: nsOne,
		Name: "compute--2-openstack-5e6f7a8b--9c0d--4e1f--a2b3--c4d5e6f7a802-1a1b2c3d--4e5f--4a6b--8c7d--9e0f1a2b3c4d"}

	t.Run("policies and endpoints each go in one transaction", func(t *testing.T) {
		store := &limitedStore{Store: memory.New(), max: 128}
		mustSync(t, newSyncer(t, cloud.client(t), store, "one"))
		if fmt.Sprint(store.sizes) != "[2 3]" {
			t.Errorf("transaction sizes %v, want [2 3]", store.sizes)
		}
	})

	t.Run("a transaction the store finds too large is split", func(t *testing.T) {
		store := &limitedStore{Store: memory.New(), max: 1}
		res := mustSync(t, newSyncer(t, cloud.client(t), store, "one"))
		if res.Created != 5 || fmt.Sprint(store.sizes) != "[1 1 1 1 1]" {
			t.Errorf("result %+v, sizes %v: want 5 single creates", res, store.sizes)
		}
	})

	t.Run("one failing resource does not hold back the others", func(t *testing.T) {
		store := &limitedStore{Store: memory.New(), max: 128, broken: web2}
		res, err := newSyncer(t, cloud.client(t), store, "one").SyncOnce(context.Background())
		if !errors.Is(err, datastore.ErrConflict) {
			t.Errorf("err = %v, want the conflict reported", err)
		}
		if res.Created != 4 {
			t.Errorf("result %+v, want the 4 other resources created", res)
		}
		if _, err := store.Get(context.Background(), web2); !errors.Is(err, datastore.ErrNotFound) {
			t.Errorf("the failing endpoint: %v", err)
		}
	})
}
