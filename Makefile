# Two entry points for a fresh machine (see README.md):
#   make demo   - set up .venv and deploy the built-in default network on Lava's simulator
#   make test   - set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: setup demo test clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel lies on disk; nothing may pull another torch.
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	# lava-nc 0.10.0 declares python<3.11; it runs on 3.11 via neurodeploy/backends/lava_compat.py.
	$(PIP) install --quiet --ignore-requires-python -c constraints.txt -e '.[test]'
	# sinabs pins nir<=1.0.4 and needs samna (hardware drivers), neurobench pins torch extras:
	# both work with our pins, so they come without their declared dependencies (tests only).
	$(PIP) install --quiet --no-deps -c constraints.txt sinabs==3.1.3 neurobench==2.3.0
	# compile the numba engine for every input kind now, not in the user's first command
	$(PY) -m neurodeploy.warmup
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) deploy.py --target loihi-sim --plots

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) report .pytest_cache
