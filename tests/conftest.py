"""Shared pytest fixtures.

The repository root is put on ``sys.path`` here because ``tests`` is a namespace package (no ``__init__.py``) and
pytest's default rootdir-relative import mode only adds ``tests/`` itself; without this, ``import tests.origin``
works under ``python -m pytest`` (cwd on the path) but not under a bare ``pytest``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.origin.fixture import Origin  # noqa: E402


@pytest.fixture(scope="session")
def origin(tmp_path_factory: pytest.TempPathFactory):
    """One plain-HTTP test origin for the whole session (see ``tests/origin/fixture.py`` for its URL interface).

    Shared because starting it costs ~0.3 s; tests isolate themselves by using unique object names, and
    ``origin.data_dir`` is the directory served under ``/files/``.
    """
    o = Origin().start(tmp_path_factory.mktemp("origin"))
    try:
        yield o
    finally:
        o.stop()


@pytest.fixture
def null_fd():
    """A write-only descriptor of /dev/null: a sink's file when only its hashing is under test."""
    fd = os.open("/dev/null", os.O_WRONLY)
    try:
        yield fd
    finally:
        os.close(fd)


@pytest.fixture(scope="session")
def tls_origin(tmp_path_factory: pytest.TempPathFactory):
    """An HTTPS test origin with a trustme CA; pass ``tls_origin.ca_path`` to the client (e.g. pycurl CAINFO)."""
    o = Origin().start(tmp_path_factory.mktemp("tls-origin"), tls=True)
    try:
        yield o
    finally:
        o.stop()


from tests.daemon import DaemonProc  # noqa: E402


@pytest.fixture(scope="session")
def dld_daemon(tmp_path_factory: pytest.TempPathFactory):
    """One ``dld serve`` process shared by tests that only start jobs and read results (use unique buckets)."""
    d = DaemonProc(tmp_path_factory.mktemp("dld")).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def make_daemon(tmp_path: Path):
    """A factory of private daemons, for tests that restart, kill or reconfigure one. All are stopped at the end."""
    made: list[DaemonProc] = []

    def make(*extra: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> DaemonProc:
        d = DaemonProc(data_dir or tmp_path / f"dld{len(made)}", *extra, env=env)
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.stop()
