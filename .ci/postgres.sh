# A throwaway PostgreSQL server for the tests, sourced by .ci/test.
#   pg_start: installs Debian's `postgresql` package if no server binaries are found, runs
#             initdb into a new temporary directory as an unprivileged user (`postgres` when we
#             are root), starts the server on 127.0.0.1 only, on a free port, with password
#             authentication and TLS (a certificate made for 127.0.0.1, when openssl is
#             there), and exports PSTORE_TEST_POSTGRES (its URL), PSTORE_TEST_POSTGRES_DIR (its
#             directory) and PSTORE_TEST_POSTGRES_CA (the certificate, to verify the server).
#   pg_stop:  stops it and removes the directory.

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$dir" ] && command -v initdb >/dev/null 2>&1; then
    dir=$(dirname "$(command -v initdb)")
  fi
  echo "$dir"
}

pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_start() {
  local bin port pw
  bin=$(pg_bindir)
  if [ -z "$bin" ]; then
    echo "no PostgreSQL server binaries: installing Debian's postgresql package"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    bin=$(pg_bindir)
  fi
  if [ -z "$bin" ]; then
    echo "PostgreSQL could not be installed; set PSTORE_TEST_POSTGRES to a server's URL" >&2
    return 1
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  fi
  PG_DIR=$(mktemp -d)
  chmod 755 "$PG_DIR"
  pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$pw" >"$PG_DIR/pw"
  [ "$(id -u)" = 0 ] && chown -R postgres "$PG_DIR"
  pg_as_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres -A scram-sha-256 \
    --pwfile="$PG_DIR/pw" --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log" >&2; return 1; }
  rm -f "$PG_DIR/pw"
  local tls=""
  if command -v openssl >/dev/null 2>&1 && openssl req -new -x509 -days 2 -nodes -subj /CN=127.0.0.1 \
      -addext "subjectAltName=IP:127.0.0.1" -keyout "$PG_DIR/server.key" -out "$PG_DIR/server.crt" \
      >/dev/null 2>&1; then
    chmod 600 "$PG_DIR/server.key"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR/server.key" "$PG_DIR/server.crt"
    tls="-c ssl=on -c ssl_cert_file=$PG_DIR/server.crt -c ssl_key_file=$PG_DIR/server.key"
    export PSTORE_TEST_POSTGRES_CA="$PG_DIR/server.crt"
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c max_connections=200 $tls" \
    start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_BIN=$bin
  export PSTORE_TEST_POSTGRES="postgres://postgres:$pw@127.0.0.1:$port/postgres?sslmode=disable"
  export PSTORE_TEST_POSTGRES_DIR="$PG_DIR"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PG_DIR)"
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
