# Lifeline. `make run` and `make test` are the two commands a newcomer needs;
# the rest are their parts.
GO       ?= go
WASM_DIR := static/wasm
TOOLS    := $(CURDIR)/bin/tools
# Packages that are built for the browser (GOOS=js GOARCH=wasm): vetted for
# js/wasm; WASM_TEST_PKGS run their tests in headless Chromium.
WASM_PKGS := ./wasm/... ./codec/... ./trace/... ./client/ ./textdiagram/ ./diagram/... ./mermaid/ ./expert/
WASM_TEST_PKGS := ./wasm/...
# Fuzz targets run briefly by `make test`, as package:target: every
# `func Fuzz…` of the module's _test.go files, found when make runs, so the
# list cannot fall behind the code (bench/ holds other modules).
FUZZ_TARGETS = $(sort $(shell grep -r --include='*_test.go' --exclude-dir=bench --exclude-dir=node_modules \
	-o '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^(.*)/[^/]*_test\.go:func |\1:|'))
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target with
# a bare "context deadline exceeded" when a -fuzztime duration ends while a
# worker is busy (golang/go#75804, fixed in Go 1.27); a count has no
# deadline to race. 50,000 inputs take 4-28 s a target on 2 loaded cores.
FUZZ_TIME    ?= 50000x
# Go minimizes each new input for up to 60 s by default, in a pass
# quadratic in its length: bounded here, so that short runs fuzz.
FUZZ_MINIMIZE ?= 200x
# fuzz-long: every fuzz target in the repository, FUZZ_LONG_TIME each
# (FUZZ_LONG_ONLY=capture/ limits it to the packages under a path).
FUZZ_LONG_TIME ?= 5m
FUZZ_LONG_ONLY ?=
# staticcheck, pinned; make deps installs it into bin/tools.
STATICCHECK := $(TOOLS)/staticcheck

.PHONY: all run build wasm deps test vet staticcheck test-native test-race test-fuzz test-wasm test-e2e clean bench-capture bench-codec bench-proxy bench-page
.PHONY: fuzz-long

all: build

# Inlining off (-l) in every package of the wasm except those an incoming
# message goes through the most (the page's JSON, and the standard
# library's strings, numbers and syscall/js): everything merged (vert's fmt
# and reflect, since replaced by wasm/jsx_js.go's assign, the lab bench, the expert analysis, the DNS and HTTP trees)
# brought main.wasm.br to 817,632 B with Go's inlining; budget 800,000 B,
# server's TestWasmSizeBudget. The page's own package (./wasm) is glue
# whose time goes to crossings into JavaScript (its inlining cost 11.6 KB);
# the diagram's (./diagram) cost 4.3 KB, and wasm BenchmarkIncoming shows
# no difference without it (69-195 µs a message either way, the same 12
# allocations). -l everywhere would save 11 KB more but costs 11 more
# allocations a message. docs/performance.md, "The wasm's size".
WASM_INLINE  := ./wasm/pagejson ./wasm/jsonw strconv strings bytes unicode/utf8 syscall/js encoding/base64 math sort
WASM_GCFLAGS := -gcflags=all=-l $(foreach p,$(WASM_INLINE),-gcflags=$(p)=)

## wasm: the browser client, Go's wasm_exec.js, and precompressed copies
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath $(WASM_GCFLAGS) -ldflags='-s -w' -o $(WASM_DIR)/main.wasm ./wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" $(WASM_DIR)/wasm_exec.js
	$(GO) run ./tools/compress $(WASM_DIR)/main.wasm

## build: bin/lifeline with the page and the wasm embedded
build: wasm
	$(GO) build -trimpath -o bin/lifeline ./server

## run: serve the page, the proxy, the embedded broker and DNS on 127.0.0.1:8080
run: build
	./bin/lifeline serve

## deps: install what the tests need (Debian packages as root, wasmbrowsertest)
deps:
	bash scripts/deps.sh

## test: every test — vet, staticcheck, native, native with the race
## detector, fuzz, js/wasm in Chromium, end-to-end in Chromium
test: deps wasm vet staticcheck test-native test-race test-fuzz test-wasm test-e2e

vet:
	@unformatted="$$("$$($(GO) env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/mqttjs/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet $(WASM_PKGS)
	$(GO) vet -tags e2e ./e2e/

staticcheck:
	$(STATICCHECK) ./...
	GOOS=js GOARCH=wasm $(STATICCHECK) $(WASM_PKGS)

test-native:
	$(GO) test ./...

# Every native package under the race detector (about 3 minutes on 2 busy
# cores; see the README).
test-race:
	$(GO) test -race ./...

test-fuzz:
	@test -n "$(FUZZ_TARGETS)" || { echo "test-fuzz: no fuzz targets found"; exit 1; }
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZ_TIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZ_TIME) -fuzzminimizetime $(FUZZ_MINIMIZE) $$pkg || exit 1; \
	done

## fuzz-long: every fuzz target in the repository (found by grepping
## `func Fuzz` in the module's tests), FUZZ_LONG_TIME each
fuzz-long:
	@grep -rHo --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*' . | grep -v '^\./bench/' | \
	sed -E 's|^\./(.*/)[^/]*_test\.go:func (Fuzz.*)$$|\1 \2|' | grep -E "^$(FUZZ_LONG_ONLY)" | sort -u | \
	while read -r pkg fn; do \
		echo "fuzz ./$$pkg $$fn ($(FUZZ_LONG_TIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZ_LONG_TIME) -fuzzminimizetime $(FUZZ_MINIMIZE) ./$$pkg || exit 1; \
	done

test-wasm:
	GOOS=js GOARCH=wasm $(GO) test -exec $(TOOLS)/go_js_wasm_exec $(WASM_TEST_PKGS)

test-e2e:
	$(GO) test -tags e2e -count=1 ./e2e/

## bench-proxy: Lifeline's proxy, untraced and traced, vs websockify vs plain
## TCP on loopback in one run, with issue 18's ratios and bars (met or not),
## and 10,000 idle sessions (raises the open-file limit as far as it may go)
bench-proxy:
	$(GO) build -trimpath -o bin/lifeline ./server
	ulimit -n $$(ulimit -Hn); $(GO) run ./bench/proxy -lifeline bin/lifeline

## bench-codec: the codec vs mochi, paho.golang and paho.mqtt.golang (own module)
bench-codec:
	cd bench/codec && COUNT=$${COUNT:-5} ./run.sh

## bench-capture: capture import vs tshark on a capture dumpcap records while
## MESSAGES QoS 1 messages go through mosquitto (scripts/make-captures.sh
## bench, as root); fails if the two count different MQTT packets
MESSAGES ?= 250000
bench-capture:
	$(GO) run ./bench/capture -messages $(MESSAGES)

clean:
	rm -rf bin artifacts $(WASM_DIR)/main.wasm* $(WASM_DIR)/wasm_exec.js

## bench-page: the page's benchmarks in headless Chromium: time to interactive,
## 10,000 incoming PUBLISH/s for 30 s (frame intervals, memory, message count),
## and the page's client against mqtt.js (prints both and the ratios)
bench-page: wasm
	$(GO) test -tags e2e -run '^$$' -bench 'BenchmarkPage' -benchtime 1x -timeout 20m ./e2e/
