#!/usr/bin/env bash
# Builds leveldb_tool (C++ LevelDB 1.23, Debian's libleveldb-dev) into $1, installing the
# package first if its headers are missing. Used by the tests that judge our files with it.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT}
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f /usr/include/leveldb/db.h ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libleveldb-dev g++ >/dev/null
fi
g++ -O2 -std=c++17 -Wall -Werror -o "$out" "$here/leveldb_tool.cc" -lleveldb -pthread
