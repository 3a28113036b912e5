# earshot: two commands on a fresh machine.
#   make demo   set up, build, start the broker and services, replay sample data
#   make test   set up what is missing, check formatting and lints, run all tests
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
# One profile for builds, tests and lints so libtorch-sys and librdkafka build once.
PROFILE_FLAG := --release

bench: setup
	@echo "==> criterion micro-benchmarks (benches/); numbers go to BENCHMARKS.md"
	@$(CARGO) bench -p earshot-benches --bench hot_paths -- --noplot
	@$(CARGO) build --release -p earshot-scorer -p earshot-replay -p earshot-alerter -p earshot-benches --bins
	@echo "==> scorer file mode vs Python transformers vs the bare forward (3,000 mentions)"
	@benches/scripts/scorer_throughput.sh 2 3
	@echo "==> replay vs a bare librdkafka producer (200,000 mentions)"
	@benches/scripts/replay_throughput.sh 200000
	@echo "==> alerter: detection quality and backtest speed vs the two anchor rules (40 brands, 14 days)"
	@benches/scripts/alerter_quality.sh 40 14 3
	@echo "==> alerter: detector memory for 100,000 brands (word-list texts, then real texts)"
	@target/release/alerter_memory 100000 2
	@target/release/alerter_memory 100000 2 "$$(benches/scripts/alerter_text_pool.sh)"
	@echo "==> alerter: detector memory per brand after a day (10,000 brands, real texts; about 4 minutes)"
	@target/release/alerter_memory 10000 24 "$$(benches/scripts/alerter_text_pool.sh)"
	@$(MAKE) --no-print-directory bench-pipeline

# The end-to-end part of `make bench` alone (about 5 minutes).
bench-pipeline: setup
	@$(CARGO) build --release -p earshot-scorer -p earshot-benches --bins
	@echo "==> end-to-end: scorer service vs Python service, ceiling, Kafka path vs bare librdkafka"
	@benches/scripts/pipeline_bench.sh 3000 2

.PHONY: bench bench-pipeline help setup build up down demo test test-reliability test-unit test-integration fmt lint clean-state broker-start broker-stop

help:
	@echo "make demo   - set up everything, run the pipeline on sample data, print where to look"
	@echo "make test   - set up what is missing, run fmt/clippy checks and all tests"
	@echo "make up     - start broker and services in the background (idempotent)"
	@echo "make down   - stop what make up started"

setup:
	@scripts/setup.sh

build: setup
	@echo "==> building earshot (release; the first build takes a while: librdkafka, libtorch bindings)"
	@$(CARGO) build $(PROFILE_FLAG) --workspace --bins

broker-start: setup
	@scripts/broker.sh start

broker-stop:
	@scripts/broker.sh stop

up: build
	@scripts/up.sh

down:
	@scripts/down.sh

demo: build
	@scripts/demo.sh

fmt:
	@echo "==> cargo fmt --check"
	@$(CARGO) fmt --all -- --check

lint: setup
	@echo "==> cargo clippy -D warnings"
	@$(CARGO) clippy $(PROFILE_FLAG) --workspace --all-targets -- -D warnings

test: setup fmt lint
	@echo "==> building the service binaries (reliability tests run them as processes)"
	@$(CARGO) build $(PROFILE_FLAG) --workspace --bins
	@echo "==> cargo test (unit and integration tests; integration tests start their own brokers)"
	@$(CARGO) test $(PROFILE_FLAG) --workspace
	@scripts/test-deploy.sh

test-reliability: setup
	@$(CARGO) build $(PROFILE_FLAG) --workspace --bins
	@echo "==> reliability tests only (RELIABILITY.md; make test runs them too)"
	@$(CARGO) test $(PROFILE_FLAG) -p earshot-integration-tests --test reliability -- --include-ignored --nocapture

clean-state: down
	rm -rf .earshot
