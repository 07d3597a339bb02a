# kri: the commands the README names. One optimised profile (release) serves build,
# test, demo and bench, so wasmtime is compiled once and stays cached in target/.

CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
WASM_OUT := target/$(WASM_TARGET)/release

.PHONY: all setup build test demo bench lint fmt clean console console-test-deps

all: build

# Everything a fresh machine needs beyond the Rust toolchain itself: the wasm
# target; PostgreSQL (the store tests run a throwaway cluster of it); Node.js and
# Debian's chromium for the console's browser tests (never a browser downloaded by
# Playwright).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
setup:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@command -v npm >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y nodejs npm; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' || { echo "playwright-core needs Node.js 20 or later (node --version: $$(node --version))"; exit 1; }
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
		{ echo "installing PostgreSQL (apt-get install -y postgresql)"; \
		  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }

# The host at target/release/kri, okta-sim at target/release/okta-sim, every
# connector component at target/plugins/<name>.wasm, and the test components at
# target/test-plugins/ (probe and bad-describe speak the frozen contract 0.1.0,
# minimal is a 0.2.0 connector on the SDK, static-graph emits the graph in its
# tenant's extra config, stream-emitter stores a System Log as events in the Okta
# connector's name; it links connector-okta as a library, so it is built on its own
# and first: its build leaves a connector_okta.wasm without exports, which the
# connector's own build then replaces).
build: setup
	$(CARGO) build --release -p kri-host -p okta-sim
	$(CARGO) build --release --target $(WASM_TARGET) -p kri-test-stream-emitter
	$(CARGO) build --release --target $(WASM_TARGET) -p connector-okta -p kri-test-probe -p kri-test-bad-describe -p kri-test-minimal -p kri-test-static-graph
	@mkdir -p target/plugins target/test-plugins
	cp $(WASM_OUT)/connector_okta.wasm target/plugins/okta.wasm
	cp $(WASM_OUT)/kri_test_probe.wasm target/test-plugins/probe.wasm
	cp $(WASM_OUT)/kri_test_bad_describe.wasm target/test-plugins/bad-describe.wasm
	cp $(WASM_OUT)/kri_test_minimal.wasm target/test-plugins/minimal.wasm
	cp $(WASM_OUT)/kri_test_static_graph.wasm target/test-plugins/static-graph.wasm
	cp $(WASM_OUT)/kri_test_stream_emitter.wasm target/test-plugins/stream-emitter.wasm

# The web console's npm packages (the versions in console/package-lock.json): the
# console's libraries and playwright-core for its tests in Chromium.
console/node_modules/.package-lock.json: console/package-lock.json
	cd console && npm ci --no-audit --no-fund
console-test-deps: setup console/node_modules/.package-lock.json

# kri embeds console/src and console/vendor as they are (no build step). This
# refreshes console/vendor, the browser builds of Chart.js and Cytoscape.js
# (committed, so building kri needs no npm), from the versions pinned in
# console/package-lock.json; run it after changing those versions, then rebuild kri.
console: console-test-deps
	cp console/node_modules/chart.js/dist/chart.umd.min.js console/node_modules/cytoscape/dist/cytoscape.min.js console/vendor/

# Every test: unit tests of each crate and the end-to-end tests against real
# components and okta-sim (tests/tests/console.rs drives the console in Chromium
# and saves screenshots under target/console-screenshots/).
test: build console-test-deps
	$(CARGO) test --release --workspace

# The main job: okta-sim with a 2,000-user org, a tenant, a run, the KRI table.
demo: build
	scripts/demo.sh

# Benchmark figures (printed, and written to target/bench/results.json). The
# benchmark guest links connector-okta as a library, so it is built on its own.
bench: build
	$(CARGO) build --release --target $(WASM_TARGET) -p kri-bench-guest
	cp $(WASM_OUT)/kri_bench_guest.wasm target/test-plugins/kri-bench-guest.wasm
	scripts/bench.sh $(BENCH_ARGS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
