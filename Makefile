# dld — two commands do everything on a fresh machine:
#   make run    venv, install, build the Cython extension, start the daemon on 127.0.0.1:8080 (data in ./var)
#   make test   the same setup plus test dependencies, then the whole suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.dld-installed

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml setup.py dld/_fast/*.pyx
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "Cython>=3.0" "setuptools>=68" wheel
	$(PIP) install -q --no-build-isolation -e '.[test]'
	$(PY) setup.py -q build_ext --inplace
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/dld serve $(ARGS)

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check dld tests bench

# Benchmarks against peers (curl, aria2c) on loopback; never run by CI. Needs nginx/aria2 from Debian.
bench: install
	@command -v nginx >/dev/null && command -v aria2c >/dev/null || (apt-get update -q && apt-get install -yq nginx-light aria2)
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf build dld/_fast/*.c dld/_fast/*.so *.egg-info
