package memory_test

import (
	"testing"

	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/memory"
	"github.com/tabby-project/tabby/datastore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) datastore.Store {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
