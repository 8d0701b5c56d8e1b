# One set-up for every target: a .venv with the package and its test extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_RUNS := runs/demo

.PHONY: setup test demo clean lab report bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "The workbench needs Python 3.11 or newer; run: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name workbench --display-name "Python (workbench)" >/dev/null
	touch $(STAMP)

setup: $(STAMP)

# Two pytest workers: much of a test's time is TensorFlow tracing, kernel and browser start-up,
# which one process cannot spread over two cores. The quick report set is built once, in the
# background, for both (tests/report_helpers.py). Tests marked `serial` (the live panel in a real
# JupyterLab) run alone afterwards; the quick report build starts only where a selected test
# needs it, so it never runs beside them. TEST_WORKERS=0 runs the first part in one process too.
# --durations: the slowest tests, so that CI logs show where the ~10 minutes go.
TEST_WORKERS ?= 2

test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not serial" --durations=15
	$(BIN)/python -m pytest -m serial

demo: setup
	rm -rf $(DEMO_RUNS)
	$(BIN)/workbench pretrain --task mnist-5k:0-4 --epochs 5 --name source --runs-dir $(DEMO_RUNS)
	$(BIN)/workbench compare --source $(DEMO_RUNS)/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10 --runs-dir $(DEMO_RUNS)

# Every notebook in reports/config.yaml through papermill, rendered to offline HTML, plus an index.
# A failed notebook still leaves the index (marked failed); the exit status says so.
report: setup
	@echo "$(BIN)/workbench report"; $(BIN)/workbench report; status=$$?; \
		echo "Report index: file://$(CURDIR)/reports/index.html"; exit $$status

# The six benchmarks of bench/ (README, "Benchmarks"): prints the figures and writes bench/RESULTS.md.
# Tens of minutes on a 2-core CPU; BENCH_SKIP_REPORTS=1 leaves out the slowest, the report timing.
bench: setup
	$(BIN)/python bench/run_all.py $(if $(filter 1,$(BENCH_SKIP_REPORTS)),--skip-reports)

# JupyterLab on 127.0.0.1 only, behind a random token (or LAB_TOKEN=...), opening the workbench panel.
lab: setup
	@token="$${LAB_TOKEN:-$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(24))')}"; \
	port="$${LAB_PORT:-8888}"; \
	echo "JupyterLab: http://127.0.0.1:$$port/lab/tree/notebooks/00_workbench.ipynb?token=$$token"; \
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port="$$port" --ServerApp.port_retries=0 \
		--IdentityProvider.token="$$token" --ServerApp.root_dir=. $(if $(filter 0,$(shell id -u)),--allow-root) \
		notebooks/00_workbench.ipynb

clean:
	rm -rf $(VENV) runs .pytest_cache
