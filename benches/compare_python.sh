#!/usr/bin/env bash
# Builds the Python package in release mode into its own virtual environment
# (target/python-bench-venv, with libp2p==0.8.1 and, if it installs, plyvel for py-libp2p's
# leveldb backend), then runs benches/compare_python.py, which writes BENCHMARKS-python.md.
#   bash benches/compare_python.sh                     # 10k and 100k peers
#   SIZES=10000 ROUNDS=1 OUT=/tmp/p.md bash benches/compare_python.sh
# Run it on a quiet machine (nothing else running).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/python-bench-venv
cd "$root"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck source=/dev/null
source "$venv/bin/activate"
pip install -q --disable-pip-version-check 'maturin>=1.5,<2' 'libp2p==0.8.1'
pip install -q --disable-pip-version-check plyvel 2>/dev/null ||
  echo "plyvel does not install here: py-libp2p's leveldb backend is left out" >&2
(cd python && maturin develop -q --release >/dev/null)
python benches/compare_python.py --sizes "${SIZES:-10000,100000}" --rounds "${ROUNDS:-5}" \
  --out "${OUT:-$root/BENCHMARKS-python.md}"
