# fapid: `make run` to start a development daemon, `make test` to run every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

SWIFT      ?= swift
KEYS_DIR   ?= keys/dev
VENV       ?= .venv
PYTHON     := $(VENV)/bin/python3
# Pinned so a test run is the same everywhere.
BENCH_SECONDS     ?= 10
BENCH_CONNECTIONS ?= 32
PY_TEST_PACKAGES := joserfc==1.6.5 cryptography==48.0.0 requests==2.34.2 pytest==9.0.3 selenium==4.38.0 pexpect==4.9.0

.PHONY: run test keys bench deps test-deps build release swift-test e2e clean

## System packages the build needs; installed when missing and we are root.
deps:
	@missing=""; \
	for p in libssl-dev libsqlite3-dev openssl pkg-config curl; do \
	    dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing:$$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else \
	        echo "missing system packages:$$missing (install them, or run make as root)" >&2; exit 1; \
	    fi; \
	fi

## Python venv for the tests' independent clients (joserfc, cryptography, requests, pytest).
test-deps: deps
	@if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; \
	    else echo "python3 with venv is required" >&2; exit 1; fi; \
	fi
	@# The PSU pages are tested in a real headless browser (Debian's chromium and chromedriver).
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	    else echo "chromium and chromium-driver are required for the browser tests" >&2; exit 1; fi; \
	fi
	@[ -x $(PYTHON) ] || python3 -m venv $(VENV)
	@$(PYTHON) -m pip install -q --disable-pip-version-check $(PY_TEST_PACKAGES)

keys:
	keys/make-dev-pki.sh $(KEYS_DIR)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

run: release
	@[ -e $(KEYS_DIR)/ca.pem ] || $(MAKE) keys
	.build/release/fapictl migrate
	exec .build/release/fapid

swift-test:
	FAPID_TEST_PYTHON=$(CURDIR)/$(PYTHON) $(SWIFT) test

e2e:
	FAPID_BIN=$(CURDIR)/.build/debug $(PYTHON) -m pytest -q Tests/EndToEnd

## Builds once (debug), runs the Swift suites, then the end-to-end suite against the real daemon.
test: test-deps
	$(SWIFT) build --build-tests
	$(MAKE) swift-test
	$(MAKE) e2e

bench: release
	$(SWIFT) build -c release --product fapibench
	$(SWIFT) build -c release --product fapiload
	.build/release/fapibench
	@echo
	Benchmarks/token-path.sh $(BENCH_SECONDS) $(BENCH_CONNECTIONS)
	@echo
	@echo "openssl speed on this machine, for comparison (single thread):"
	@openssl speed -seconds 2 rsa2048 ecdsap256 ed25519 2>/dev/null | tail -n 9

clean:
	rm -rf .build $(VENV)
