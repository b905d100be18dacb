# labornet — `make run` runs the platform, `make test` passes the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVICES := $(notdir $(wildcard services/*))
PACKAGES := shared/labornet_shared $(foreach s,$(SERVICES),services/$(s)/labornet_$(s)) \
	testkit/labornet_testkit
TEST_DIRS := shared/tests $(foreach s,$(SERVICES),services/$(s)/tests) tests

.PHONY: run test lint format bench bench-intake bench-registry bench-routing bench-notify bench-announcements bench-publish bench-relay test-faults test-instances test-cluster venv migrate setup-broker clean eval-routing docs-events docs-asyncapi

venv: $(STAMP)

$(STAMP): shared/pyproject.toml $(wildcard services/*/pyproject.toml) testkit/pyproject.toml \
		requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools<81" wheel
	$(BIN)/pip install --quiet -e shared $(foreach s,$(SERVICES),-e services/$(s)) \
		-e testkit -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP)
	@$(BIN)/labornet run

migrate: $(STAMP)
	$(BIN)/labornet migrate

setup-broker: $(STAMP)
	$(BIN)/labornet setup-broker

# nameko test = pytest after eventlet's monkey-patching (see STACK-NOTES).
# LABORNET_TEST_DB_URL=postgresql://... runs the same tests on PostgreSQL.
test: $(STAMP)
	$(BIN)/nameko test $(TEST_DIRS) -p no:cacheprovider $(PYTEST_ARGS)

# test-faults: the whole platform as separate processes under a schedule of
# faults, then a reconciliation table (README "Fault suite"). 1,000 cases;
# FAULT_ARGS go to the suite (FAULT_ARGS="--cases 10000": the full size);
# LABORNET_TEST_DB_URL=postgresql://... runs it on PostgreSQL. It stops by
# itself (a hard cap scaled to the size: ~13 min at 1,000 cases).
test-faults: $(STAMP)
	LABORNET_FAULT_SUITE=1 LABORNET_FAULT_ARGS="$(FAULT_ARGS)" \
		$(BIN)/nameko test tests/faults/test_whole_platform.py \
		-p no:cacheprovider -s $(PYTEST_ARGS)

# test-instances: the same suite with two processes of every service, each
# on its own port, on one PostgreSQL database per service (LABORNET_TEST_DB_URL,
# else the local test server): cases spread over both intakes, each kill takes
# one instance while the other serves, and the table proves no case, referral
# or notice doubled. 500 cases, ~5 min on a quiet 2-core machine; it stops by
# itself (hard cap 15 min). FAULT_ARGS go to the suite.
INSTANCES_DB ?= $(or $(LABORNET_TEST_DB_URL),postgresql://postgres@127.0.0.1:5432/test)
test-instances: $(STAMP)
	LABORNET_FAULT_SUITE=1 LABORNET_TEST_DB_URL="$(INSTANCES_DB)" \
	LABORNET_FAULT_ARGS="--instances 2 --cases 500 --max-seconds 900 $(FAULT_ARGS)" \
		$(BIN)/nameko test tests/faults/test_whole_platform.py \
		-p no:cacheprovider -s $(PYTEST_ARGS)

# test-cluster: a 3-node RabbitMQ cluster (deploy/rabbitmq-cluster/cluster.sh,
# beside the system's RabbitMQ, ports 27672-27694), the platform on it with
# every node's address, 300 cases streamed, one node stopped mid-stream; the
# fault suite's table says nothing was lost or doubled. Stops the cluster at
# the end; a hard cap of 25 min. CLUSTER_ARGS go to the suite.
test-cluster: $(STAMP)
	LABORNET_CLUSTER_SUITE=1 LABORNET_CLUSTER_ARGS="$(CLUSTER_ARGS)" \
		$(BIN)/nameko test tests/cluster/test_cluster.py \
		-p no:cacheprovider -s $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check shared services testkit tests examples
	$(BIN)/ruff format --check shared services testkit tests examples
	$(BIN)/mypy $(PACKAGES) examples

format: $(STAMP)
	$(BIN)/ruff format shared services testkit tests examples
	$(BIN)/ruff check --fix shared services testkit tests examples

# bench-intake: issue 3's outbox figures; bench-registry: issue 4's import
# and search figures; bench-routing: issue 5's case-accepted-to-agency-queue
# latency (tests/bench/README.md). `bench` runs them one after the other,
# never in parallel (-j), so that none measures another's load; BENCH_ARGS go
# to each (options all know: --db, --clients, --quiet-wait).
bench: $(STAMP)
	@$(MAKE) --no-print-directory bench-intake
	@$(MAKE) --no-print-directory bench-registry
	@$(MAKE) --no-print-directory bench-routing
	@$(MAKE) --no-print-directory bench-notify

bench-intake: $(STAMP)
	$(BIN)/python tests/bench/bench_intake.py $(BENCH_ARGS)

bench-registry: $(STAMP)
	$(BIN)/python tests/bench/bench_registry.py $(BENCH_ARGS)

bench-routing: $(STAMP)
	$(BIN)/python tests/bench/bench_routing.py $(BENCH_ARGS)

# bench-notify: issue 6's deliveries/s through the fake providers
bench-notify: $(STAMP)
	$(BIN)/python tests/bench/bench_notify.py $(BENCH_ARGS)

# bench-announcements: issue 17's announcement to 8,879 field agents: planning
# and draining through the fake providers
bench-announcements: $(STAMP)
	$(BIN)/python tests/bench/bench_announcements.py $(BENCH_ARGS)

# bench-publish: the relay's CPU per event, its own frames against py-amqp's
bench-publish: $(STAMP)
	cd tests/bench && ../../$(BIN)/python bench_publish.py $(PUBLISH_ARGS)

# bench-relay: what the relay's lease costs per batch, with and without it
bench-relay: $(STAMP)
	cd tests/bench && ../../$(BIN)/python bench_relay.py $(RELAY_ARGS)

clean:
	rm -rf var .mypy_cache .ruff_cache

# docs/events.md's event reference, from the registered payload schemas
# (tests/test_docs.py fails while the committed one differs)
docs-events: $(STAMP) docs-asyncapi
	$(BIN)/python tests/test_docs.py

# docs/asyncapi.json, the AsyncAPI 3.0 document every service serves at
# /asyncapi.json (shared/tests/test_asyncapi.py fails while they differ)
docs-asyncapi: $(STAMP)
	$(BIN)/python -m labornet_shared.asyncapi docs/asyncapi.json

# routing's screening on its labelled cases: per register and per category,
# beside today's figures; fails when a held-out goal is missed (standard Thai
# main-category accuracy >= 90 %, the new registers' recall >= 0.95 with at
# most 1.3 labels per case)
eval-routing: $(STAMP)
	$(BIN)/python -m labornet_routing.evaluate --enforce
