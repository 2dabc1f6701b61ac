# The whole test suite: vet, the tests with the race detector, and a short
# run of every fuzz target (FUZZTIME each: a count of inputs, which unlike a
# duration cannot end mid-input and fail with "context deadline exceeded").
FUZZTIME ?= 400000x
# Targets that go through an HTTP handler or client run fewer inputs: each
# costs about a hundred times a byte parser's.
FUZZHTTP ?= 30000x

FUZZ_TARGETS = \
	./internal/blob:FuzzValidName \
	./internal/blob:FuzzSum \
	./internal/seal:FuzzOpen \
	./internal/keys:FuzzParseAccount \
	./internal/journal:FuzzParseSegment \
	./internal/journal:FuzzDecodeEntries \
	./internal/journal:FuzzCleanPath \
	./internal/pack:FuzzParseHeader \
	./internal/pack:FuzzDecodeIndex \
	./internal/pack:FuzzOpenChunk \
	./internal/volume:FuzzParseConfig \
	./internal/volume:FuzzParseDevice \
	./internal/volume:FuzzDecodeState \
	./internal/volume:FuzzParseCheckpoint \
	./internal/volume:FuzzParseRevocation \
	./internal/volume:FuzzParseKeyShare \
	./internal/volume:FuzzParseMirrors \
	./internal/volume:FuzzParseStage \
	./internal/keys:FuzzParseRecoveryCode \
	./internal/totp:FuzzDecode \
	./internal/totp:FuzzVerify \
	./internal/server:FuzzBodies:$(FUZZHTTP) \
	./internal/server:FuzzRange:$(FUZZHTTP) \
	./internal/server:FuzzQueries:$(FUZZHTTP) \
	./internal/server:FuzzCursor:$(FUZZHTTP) \
	./internal/server:FuzzBearer:$(FUZZHTTP) \
	./internal/server:FuzzUser:$(FUZZHTTP) \
	./internal/remote:FuzzContentRange:$(FUZZHTTP) \
	./internal/remote:FuzzRetryAfter:$(FUZZHTTP) \
	./internal/remote:FuzzMtime:$(FUZZHTTP) \
	./internal/remote:FuzzErrorBody:$(FUZZHTTP) \
	./internal/remote:FuzzResponses:$(FUZZHTTP) \
	./internal/remote:FuzzReadRange:$(FUZZHTTP) \
	./internal/blob/s3:FuzzParse \
	./internal/blob/s3:FuzzResponses:$(FUZZHTTP)

.PHONY: test vet unit fuzz build bench

test: vet unit fuzz

build:
	go build -o dvpc ./cmd/dvpc

vet:
	@test -z "$$(gofmt -l cmd internal bench)" || { gofmt -l cmd internal bench; echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	GOOS=darwin go build -o /dev/null ./cmd/dvpc
	GOOS=freebsd go build -o /dev/null ./cmd/dvpc

unit:
	go test -race -count=1 ./...

fuzz:
	@n=0; log=$$(mktemp); for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; count=$${rest#$$name}; count=$${count#:}; count=$${count:-$(FUZZTIME)}; \
		echo "fuzz $$pkg $$name ($$count)"; \
		go test -run '^$$' -fuzz "^$$name$$" -fuzztime $$count $$pkg >$$log 2>&1 || { cat $$log; rm -f $$log; echo "fuzz: $$n passed, 1 failed"; exit 1; }; \
		n=$$((n+1)); \
	done; rm -f $$log; echo "fuzz: $$n passed, 0 failed"

bench:
	go test -run '^$$' -bench . -benchmem ./internal/...
