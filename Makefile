# Tabby's single entry points. `make test` is what CI runs (.ci/run).
GO       ?= go
FUZZTIME ?= 15s
PKGS     := ./...

.PHONY: all test vet unit fuzz demo bench staticcheck

all: test

## test: vet, unit tests with the race detector (fuzz seed corpora included), bounded fuzzing
test: vet unit fuzz

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

# Each fuzz target runs for a bounded time; `go test -fuzz` takes one target per run.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./selector
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./api/v3

staticcheck:
	$$($(GO) env GOPATH)/bin/staticcheck $(PKGS)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

## demo: the main job (for now: validate the seed examples, then the offline matrix)
demo:
	$(GO) run ./cmd/calicoctl validate -f examples/seeds/
