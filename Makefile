# fapid: `make run` to start a development daemon, `make test` to run every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

SWIFT      ?= swift
KEYS_DIR   ?= keys/dev
VENV       ?= .venv
PYTHON     := $(VENV)/bin/python3
# Pinned so a test run is the same everywhere.
BENCH_SECONDS     ?= 10
BENCH_CONNECTIONS ?= 64
# `make fuzz`: seconds per target (docs/robustness.md), targets (default all), targets run at once.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
FUZZ_JOBS    ?= 1
PY_TEST_PACKAGES := joserfc==1.6.5 cryptography==48.0.0 requests==2.34.2 pytest==9.0.3 selenium==4.38.0 pexpect==4.9.0 authlib==1.6.12

.PHONY: run test keys bench bench-deps deps test-deps build release swift-test e2e fuzz clean

## System packages the build needs; installed when missing and we are root. libp11-kit-dev gives the PKCS#11
## header; libengine-pkcs11-openssl is OpenSSL's pkcs11 engine, through which keys in a token sign.
deps:
	@missing=""; \
	for p in libssl-dev libsqlite3-dev openssl pkg-config curl libp11-kit-dev libengine-pkcs11-openssl; do \
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
	@# ApacheBench (ab): the HTTP/1.0 connection tests drive fapid with a real HTTP/1.0 client.
	@if ! command -v ab >/dev/null; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apache2-utils >/dev/null; \
	    else echo "apache2-utils (ab) is required for the HTTP/1.0 tests" >&2; exit 1; fi; \
	fi
	@# Two instances on one PostgreSQL: the storage contract and scale-out tests run a throwaway cluster.
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	    else echo "postgresql is required for the PostgreSQL tests (apt-get install postgresql)" >&2; exit 1; fi; \
	fi
	@# Keys in a hardware token: the PKCS#11 tests initialise a SoftHSM2 token in a temporary directory.
	@if ! command -v softhsm2-util >/dev/null; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null; \
	    else echo "softhsm2 is required for the PKCS#11 tests (apt-get install softhsm2)" >&2; exit 1; fi; \
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

## Builds once (debug, our targets with warnings as errors), starts a throwaway PostgreSQL cluster, runs the Swift suites, then the end-to-end suite
## against the real daemon (SQLite, and two instances on PostgreSQL).
test: test-deps
	FAPID_WARNINGS_AS_ERRORS=1 $(SWIFT) build --build-tests
	FAPID_WARNINGS_AS_ERRORS=1 Tests/postgres/with-cluster.sh $(MAKE) swift-test e2e

## nginx (the ceiling measured beside fapid) and the Python clients that prepare the benchmark's requests.
bench-deps: test-deps
	@if ! command -v nginx >/dev/null; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	    else echo "nginx is required for the ceiling measure (apt-get install nginx-light)" >&2; exit 1; fi; \
	fi

## Release build, JOSE and certificate-status micro-benchmarks, then every scenario against a fresh daemon
## beside nginx and openssl speed measured in the same run (docs/performance.md).
bench: bench-deps release
	.build/release/fapibench
	@echo
	$(SWIFT) package --package-path Tests/Benchmarks/CertStatus benchmark --format markdown --no-progress
	@echo
	Tests/Benchmarks/bench.sh $(BENCH_SECONDS) $(BENCH_CONNECTIONS)

## libFuzzer with address sanitizer over every parser that takes outside bytes (Tests/Fuzz), FUZZ_SECONDS each; fails on
## a crash, a leak, a hang or running out of memory; a crash's or leak's minimised input goes to Tests/Fuzz/Regressions,
## which `make test` replays.
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_JOBS=$(FUZZ_JOBS) SWIFT=$(SWIFT) Tests/Fuzz/run.sh

clean:
	rm -rf .build $(VENV)
