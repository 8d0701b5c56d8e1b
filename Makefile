# One set-up for every target: a .venv with the package and its test extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_RUNS := runs/demo

.PHONY: setup test demo clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "The workbench needs Python 3.11 or newer; run: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name workbench --display-name "Python (workbench)" >/dev/null
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest

demo: setup
	rm -rf $(DEMO_RUNS)
	$(BIN)/workbench pretrain --task mnist-5k:0-4 --epochs 5 --name source --runs-dir $(DEMO_RUNS)
	$(BIN)/workbench compare --source $(DEMO_RUNS)/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10 --runs-dir $(DEMO_RUNS)

clean:
	rm -rf $(VENV) runs .pytest_cache
