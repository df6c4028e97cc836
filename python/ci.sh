#!/usr/bin/env bash
# The Python package's tests, from nothing but the repository and the package registries:
#   1. a virtual environment (target/python-venv) with maturin, libp2p==0.8.1, pytest and
#      plyvel (py-libp2p's LevelDB backend, for test_migrate_pylibp2p.py);
#   2. the package built into it from python/ (maturin develop, the crate's debug profile);
#   3. the tools the interop tests run: the pstore binary and the Go harness (interop/);
#   4. our pytest suite (python/tests) over LevelDB and SQLite;
#   5. py-libp2p 0.8.1's own peer tests, from its sdist on PyPI, unmodified, with their
#      PeerStore rebound to ours (python/tests/pylibp2p/pylibp2p_shim.py), once per backend.
# PSTORE_SKIP_GO=1 skips what needs Go. Called by .ci/test; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/python-venv
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
# shellcheck source=/dev/null
source "$venv/bin/activate"
pip install -q --disable-pip-version-check 'maturin>=1.5,<2' 'libp2p==0.8.1' \
  'pytest>=8' 'pytest-trio>=0.8' 'plyvel>=1.5'

echo "== building the package (maturin develop)"
(cd python && maturin develop -q >/dev/null)

echo "== building pstore and the Go harness"
cargo build -q --bin pstore
export PSTORE_BIN=$target/debug/pstore
if command -v go >/dev/null 2>&1; then
  (cd interop && go build -o "$target/interop-harness" .)
  export INTEROP_BIN=$target/interop-harness
elif [ "${PSTORE_SKIP_GO:-}" != 1 ]; then
  echo "go is not installed (set PSTORE_SKIP_GO=1 to skip the Go interop tests)" >&2
  exit 1
fi

echo "== our Python tests"
python -m pytest -q -p no:cacheprovider python/tests --ignore=python/tests/pylibp2p

echo "== py-libp2p 0.8.1's own peer tests over pstoreds.PeerStore"
sdist=$target/py-libp2p-sdist
if [ ! -d "$sdist/libp2p-0.8.1/tests/core/peer" ]; then
  rm -rf "$sdist" && mkdir -p "$sdist"
  pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$sdist" 'libp2p==0.8.1'
  tar xzf "$sdist/libp2p-0.8.1.tar.gz" -C "$sdist"
fi
peer_tests=$sdist/libp2p-0.8.1/tests/core/peer
for backend in leveldb sqlite; do
  echo "-- backend: $backend"
  # The sdist's own tests/ package is not importable from here: run the three files by path,
  # with our ini (trio mode) and our shim loaded first.
  (cd python/tests/pylibp2p &&
    PSTOREDS_TEST_BACKEND=$backend PYTHONPATH=. python -m pytest -q -c pytest.ini \
      --rootdir=. -p pylibp2p_shim \
      "$peer_tests/test_peerstore.py" "$peer_tests/test_addrbook.py" \
      "$peer_tests/test_peermetadata.py")
done
