"""Fixtures of pstoreds' own Python tests: a fresh store of each backend, and the tools the
interop tests run (``PSTORE_BIN``: the ``pstore`` binary; ``INTEROP_BIN``: the Go harness built
from ``interop/``). ``python/ci.sh`` sets both; a test that needs a missing one fails, unless
``PSTORE_SKIP_GO=1`` says to skip the Go ones."""

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = ["leveldb", "sqlite"]


def store_name(tmp_path, backend: str, name: str = "peers") -> str:
    """How a user names a new store of ``backend`` under ``tmp_path``."""
    if backend == "sqlite":
        return f"sqlite:{tmp_path / name}.sqlite"
    return str(tmp_path / name)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def name(tmp_path, backend) -> str:
    return store_name(tmp_path, backend)


def _tool(var: str, go: bool) -> str:
    path = os.environ.get(var)
    if path and os.access(path, os.X_OK):
        return path
    if go and os.environ.get("PSTORE_SKIP_GO") == "1":
        pytest.skip(f"{var} not set and PSTORE_SKIP_GO=1")
    pytest.fail(f"{var} must name the executable (python/ci.sh builds it)")


@pytest.fixture(scope="session")
def pstore_bin() -> str:
    return _tool("PSTORE_BIN", go=False)


@pytest.fixture(scope="session")
def interop_bin() -> str:
    return _tool("INTEROP_BIN", go=True)


def run(*args: str, **kw) -> str:
    """Runs a command, failing the test with its stderr if it fails; returns stdout."""
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def run_python(code: str, *args: str) -> str:
    """Runs ``code`` in a new Python process (a node that starts and exits)."""
    return run(sys.executable, "-c", code, *args)


def copy_fixture(name: str, to) -> str:
    """A private copy of a committed Go-written database (opening one writes to it)."""
    dst = to / name
    shutil.copytree(os.path.join(REPO, "testdata", "go-v0.48.0", name), dst)
    return str(dst)
