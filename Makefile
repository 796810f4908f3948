# Two entry points (see README): `make demo` and `make test`. Both set up what they need.
# pytest exits 5 when a selection holds no tests: not a failure.
PYTHON ?= python3
VENV ?= .venv
# Python 3.9 (what CANN servers run): pyenv's build if present, else a working python3.9 on PATH.
PY39 ?= $(shell for p in $$HOME/.pyenv/versions/3.9*/bin/python3.9 python3.9; do \
	  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 9)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV39 ?= .venv39
SPEC ?= configs/demo-sim.yaml
PYTEST = python -m pytest -q -p no:cacheprovider

.PHONY: demo test test-main test-ray test-core39 setup setup-ray setup39 bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# Ray only for the cluster tests: the demo and the core never need it.
$(VENV)/.ray-installed: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[test,ray]'
	touch $@

# CANN's own Python packages pin numpy 1.x: the 3.9 run proves that combination.
NUMPY39 ?= numpy>=1.24,<1.25

$(VENV39)/.installed: pyproject.toml Makefile
	$(PY39) -m venv $(VENV39)
	$(VENV39)/bin/pip install -q --upgrade pip
	$(VENV39)/bin/pip install -q -e '.[test]' '$(NUMPY39)'
	touch $@

setup: $(VENV)/.installed
setup-ray: $(VENV)/.ray-installed
setup39: $(VENV39)/.installed

## Run the embedded default: an 8-device fleet on the simulator.
demo: setup
	$(VENV)/bin/dvpp-fleet run $(SPEC)

## Every test: fast, slow and Ray (own local clusters) on the main Python, then all but Ray on 3.9.
test: test-main test-ray
	@if [ -n "$(PY39)" ]; then $(MAKE) --no-print-directory test-core39; \
	 else echo "python3.9 not found: skipping the Python 3.9 run"; fi

test-main: setup
	$(VENV)/bin/$(PYTEST) -m "not slow and not ray" || [ $$? -eq 5 ]
	$(VENV)/bin/$(PYTEST) -m "slow and not ray" || [ $$? -eq 5 ]

test-ray: setup-ray
	$(VENV)/bin/$(PYTEST) -m "ray" || [ $$? -eq 5 ]

test-core39: setup39
	$(VENV39)/bin/$(PYTEST) -m "not ray" || [ $$? -eq 5 ]

# Every benchmark runs and prints its figures; the target fails afterwards if any missed its target.
BENCHES = scripts/bench.py scripts/bench_sweep.py scripts/bench_fleet.py
bench: setup
	@missed=""; for b in $(BENCHES); do $(VENV)/bin/python $$b || missed="$$missed $$b"; done; \
	if [ -n "$$missed" ]; then echo "bench: target missed by:$$missed" >&2; exit 1; fi

clean:
	rm -rf $(VENV) $(VENV39) runs .pytest_cache
