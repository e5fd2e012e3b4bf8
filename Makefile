# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs localstyle, and runs the main job on the embedded default (offline)
#   make test   creates .venv, installs localstyle, and runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.localstyle-installed

.PHONY: install test demo gpu-check clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade-strategy only-if-needed -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

# the shipped person model finds the people (no annotations, no download); The Starry Night paints them
demo: $(STAMP)
	$(PY) stylize_net.py --input assets/photos --output output/demo

# every CUDA path in one run (PASS/FAIL/SKIP lines); on a machine without CUDA it prints SKIP lines only
gpu-check: $(STAMP)
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) output
