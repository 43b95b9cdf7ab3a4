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

## demo: the main job: validate the seed policies, print who can reach whom (seeds, examples/demo), trace a denied flow
CALICOCTL := $(GO) run ./cmd/calicoctl
demo:
	$(CALICOCTL) validate -f examples/seeds/
	$(CALICOCTL) policy matrix -f examples/seeds/ --ports 53,6379 --protocols TCP,UDP
	$(CALICOCTL) policy matrix -f examples/demo/ --ports 80,81
	$(CALICOCTL) policy trace -f examples/demo/ --from x/c --to x/a --protocol TCP --port 80
