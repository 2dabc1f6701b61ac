# The whole test suite: vet, the tests with the race detector, and a short
# run of every fuzz target (FUZZTIME each: a count of inputs, which unlike a
# duration cannot end mid-input and fail with "context deadline exceeded").
FUZZTIME ?= 400000x

FUZZ_TARGETS = \
	./internal/blob:FuzzValidName \
	./internal/blob:FuzzSum \
	./internal/seal:FuzzOpen \
	./internal/keys:FuzzParseAccount \
	./internal/journal:FuzzParseSegment \
	./internal/journal:FuzzDecodeEntries \
	./internal/pack:FuzzParseHeader \
	./internal/pack:FuzzDecodeIndex \
	./internal/pack:FuzzOpenChunk \
	./internal/volume:FuzzParseConfig \
	./internal/volume:FuzzParseDevice \
	./internal/volume:FuzzDecodeState \
	./internal/volume:FuzzParseCheckpoint

.PHONY: test vet unit fuzz build bench

test: vet unit fuzz

build:
	go build -o dvpc ./cmd/dvpc

vet:
	@test -z "$$(gofmt -l cmd internal)" || { gofmt -l cmd internal; echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...

unit:
	go test -race -count=1 ./...

fuzz:
	@n=0; log=$$(mktemp); for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1 || { cat $$log; rm -f $$log; echo "fuzz: $$n passed, 1 failed"; exit 1; }; \
		n=$$((n+1)); \
	done; rm -f $$log; echo "fuzz: $$n passed, 0 failed"

bench:
	go test -run '^$$' -bench . -benchmem ./internal/...
