# gonogo — two commands: `make demo` (the whole rollout on local clusters) and `make test`.
.PHONY: setup demo test ui stop bench lock

PY := .venv/bin/python

setup:            ## make .venv with every pinned dependency (fast when already done)
	@scripts/setup.sh

demo: setup       ## the whole DAG with dag.test(): local clusters with the sample app, or your databases (README)
	@timeout -s INT 1200 $(PY) scripts/demo.py $(DEMO_ARGS)

# Three workers, a test file each at a time (a file's clusters and fixtures stay together): most
# of the suite waits on servers, a DAG run or a watch window, not on the 2 cores. (Starting the
# files that drive whole DAG runs first was tried: 34 min instead of 29, and the browser flow's
# Airflow overloaded beside them.)
TEST_WORKERS ?= 3

test: setup       ## the whole test suite against real throwaway clusters
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

ui: setup         ## Airflow UI on 127.0.0.1 against the local clusters (prints URL and login)
	@$(PY) scripts/ui.py start

stop:             ## stop the UI, the local Slack stand-in and the local clusters
	@[ ! -x $(PY) ] || $(PY) scripts/ui.py stop

bench: setup      ## benchmarks (tests/bench): measurements printed as tables, never a pass/fail
	@$(PY) -m pytest tests/bench -p no:cacheprovider -s -q $(PYTEST_ARGS)

lock:             ## regenerate requirements.txt (every transitive version pinned) from requirements.in
	@.venv/bin/uv pip compile requirements.in --python-version 3.11 --no-header -o requirements.txt
