# fp4hw: `make` is the main job (Verilog + area report of the default units), `make test` runs
# every test. Both create .venv and install the project from PyPI on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fp4hw-installed
ORACLES_STAMP := $(VENV)/.fp4hw-oracles
PYTEST_JOBS ?= auto

.PHONY: all test verify-full mutate oracles bench suite-time clean distclean

all: $(STAMP)
	$(BIN)/fp4hw build -o build

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "fp4hw needs Python >= 3.10 ($(PYTHON) is older)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plots]'
	touch $@

# The two tiers (verification/tiers.py; README "Tests"). make test: every unit and feature at
# least once, each unit's representative configuration also on Icarus, within 8 minutes on
# 2 cores from a fresh clone; it prints the 15 slowest tests and its total.
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) --durations=15

# Everything make test leaves out: the other configurations and every depth setting, every
# Icarus run, the full block and pair counts, the MAC over all 2^24 inputs per rounding mode,
# the long formal proofs (FP8 and INT8 multipliers over all 2^16 pairs, the MAC over 18 addends).
verify-full: $(STAMP)
	$(BIN)/python -m pytest -m full -s -p no:randomly -n $(PYTEST_JOBS)

# Mutation testing of hdl/: MUTATE_ARGS="" runs every mutant (~1,500: hours on 2 cores).
MUTATE_ARGS ?= --sample 12
mutate: $(STAMP)
	$(BIN)/python -m verification.tools.mutate $(MUTATE_ARGS)

# Heavy independent oracles (torch CPU + torchao); tests that need them skip without them.
oracles: $(ORACLES_STAMP)
$(ORACLES_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,plots,oracles]'
	touch $@

bench: $(STAMP)
	$(BIN)/python -m verification.tools.bench

# The benchmark of the suite itself: make test on a fresh clone with an empty yowasp cache.
suite-time: $(STAMP)
	$(BIN)/python -m verification.tools.suite_time

clean:
	rm -rf build

distclean: clean
	rm -rf $(VENV)
