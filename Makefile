# Tessera build entry points. `make run` and `make test` are all a newcomer needs:
# each target installs what it depends on first.

NPM_STAMP := node_modules/.package-lock.json
BUILD_STAMP := dist/.build-stamp
SOURCES := $(shell find src plugins bench scripts proto -type f \( -name '*.ts' -o -name '*.proto' -o -name '*.mjs' \) 2>/dev/null) tsconfig.json

.PHONY: all build run test bench system-deps clean

all: build

# npm ci builds the native SO_PEERCRED addon (binding.gyp) and better-sqlite3 from source.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

$(BUILD_STAMP): $(NPM_STAMP) $(SOURCES)
	npm run build
	@touch $(BUILD_STAMP)

build: $(BUILD_STAMP)

# Debian packages the end-to-end tests use: an independent gRPC stack (Python grpcio),
# protoc for its stubs, openssl to verify chains, setpriv to run clients as other users.
system-deps:
	@bash scripts/install-system-deps.sh

run: build
	node dist/scripts/run-demo.js

# The type check covers the tests too (the build leaves *.test.ts out of dist/).
test: build system-deps
	npm run typecheck
	npx vitest run

bench: build
	node dist/bench/run-bench.js

clean:
	rm -rf dist build .demo

# Installs the built application, the tessera-agent and tessera-server commands, example
# configurations in /etc/tessera and the systemd units (see docs/install.md). Run as root;
# PREFIX (default /usr/local) and DESTDIR (a staging root) are passed to the script.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: install
install: build
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" bash scripts/install.sh
