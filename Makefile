# Tabby's single entry points. `make test` is what CI runs (.ci/run).
GO       ?= go
FUZZTIME ?= 15s
PKGS     := ./...

.PHONY: all test vet unit fuzz demo analyse bench staticcheck

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

## demo: the main job (as root): a two-host lab of network namespaces with one agent per host,
## the seed policies applied, real packets beside the engine's prediction, a change, again
CALICOCTL := $(GO) run ./cmd/calicoctl
demo:
	$(CALICOCTL) validate -f examples/seeds/
	$(GO) run ./cmd/tabby-lab demo

## analyse: the same questions without a dataplane: matrices of the seeds and examples/demo,
## the trace of a denied flow, and the lint of the seeds
analyse:
	$(CALICOCTL) policy matrix -f examples/seeds/ --ports 53,6379 --protocols TCP,UDP
	$(CALICOCTL) policy matrix -f examples/demo/ --ports 80,81
	$(CALICOCTL) policy trace -f examples/demo/ --from x/c --to x/a --protocol TCP --port 80
	$(CALICOCTL) policy lint -f examples/seeds/ --fail-on none
