# dld — two commands do everything on a fresh machine:
#   make run    venv, install, build the Cython extension, start the daemon on 127.0.0.1:8080 (data in ./var)
#   make test   the same setup plus test dependencies, then the whole suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.dld-installed

.PHONY: run test install test-servers lint bench clean

$(STAMP): pyproject.toml setup.py dld/_fast/*.pyx dld/_fast/csrc/*
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "Cython>=3.0" "setuptools>=68" wheel
	$(PIP) install -q --no-build-isolation -e '.[test]'
	$(PY) setup.py -q build_ext --inplace
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/dld serve $(ARGS)

# Test servers beyond our own origin: nginx (HTTP/2 over TLS). Best effort: without root or apt the HTTP/2 test
# is skipped, everything else runs.
test-servers:
	@command -v nginx >/dev/null 2>&1 || command -v /usr/sbin/nginx >/dev/null 2>&1 || \
		( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) >/dev/null 2>&1 \
		  || echo "make: could not install nginx; the HTTP/2 test will be skipped" )

test: install test-servers
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check dld tests bench

# Benchmarks against peers (curl, aria2c) on loopback; never run by CI. Needs nginx/aria2 from Debian.
bench: install
	@command -v aria2c >/dev/null && test -x /usr/sbin/nginx || (apt-get update -q && apt-get install -yq nginx aria2)
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf build dld/_fast/*.c dld/_fast/*.so *.egg-info
