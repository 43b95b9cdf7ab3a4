package engine

import (
	"testing"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func TestProfileRules(t *testing.T) {
	e := New()
	if _, _, ok := e.ProfileRules("kns.prod"); ok {
		t.Fatal("a profile that was never upserted is reported as existing")
	}
	if err := e.Upsert(nsProfile("prod", nil)); err != nil {
		t.Fatal(err)
	}
	in, eg, ok := e.ProfileRules("kns.prod")
	t.Run("a namespace profile's rules are returned compiled", func(t *testing.T) {
		if !ok || len(in) != 1 || len(eg) != 1 || in[0].Action != v3.Allow || eg[0].Action != v3.Allow {
			t.Fatalf("ProfileRules(kns.prod) = %+v, %+v, %v; want one Allow rule each way", in, eg, ok)
		}
	})
	t.Run("a deleted profile is reported missing", func(t *testing.T) {
		e.Delete(v3.Key{Kind: v3.KindProfile, Name: "kns.prod"})
		if _, _, ok := e.ProfileRules("kns.prod"); ok {
			t.Fatal("ProfileRules still finds a deleted profile")
		}
	})
}
