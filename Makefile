# pytest exits 5 when a selection holds no tests: not a failure.
# Two entry points (see README): `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
# Python 3.9 (what CANN servers run): pyenv's build if present, else a working python3.9 on PATH.
PY39 ?= $(shell for p in $$HOME/.pyenv/versions/3.9*/bin/python3.9 python3.9; do \
	  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 9)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV39 ?= .venv39
SPEC ?= configs/demo-sim.yaml

.PHONY: demo test test-core39 setup setup39 bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

$(VENV39)/.installed: pyproject.toml
	$(PY39) -m venv $(VENV39)
	$(VENV39)/bin/pip install -q --upgrade pip
	$(VENV39)/bin/pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

setup39: $(VENV39)/.installed

## Run the embedded default: an 8-device fleet on the simulator.
demo: setup
	$(VENV)/bin/dvpp-fleet run $(SPEC)

## Every test (slow ones included) on the main Python, then all but the Ray tests on Python 3.9.
test: setup
	$(VENV)/bin/python -m pytest -q -m "not slow" || [ $$? -eq 5 ]
	$(VENV)/bin/python -m pytest -q -m "slow" || [ $$? -eq 5 ]
	@if [ -n "$(PY39)" ]; then $(MAKE) --no-print-directory test-core39; \
	 else echo "python3.9 not found: skipping the Python 3.9 run"; fi

test-core39: setup39
	$(VENV39)/bin/python -m pytest -q -m "not ray" || [ $$? -eq 5 ]

bench: setup
	$(VENV)/bin/python scripts/bench.py

clean:
	rm -rf $(VENV) $(VENV39) runs .pytest_cache
