#!/usr/bin/env bash
# scripts/with-postgres.sh COMMAND [ARGUMENT...]
#
# Runs COMMAND beside a throwaway PostgreSQL server, for the tests that need
# one: a new cluster (initdb in a temporary directory; the server with fsync on) listening on
# 127.0.0.1 at a free port and on a socket directory of its own, with a role
# `kith` (password `kith-test`, allowed to create databases) and a database
# `kith`. The command sees
#   KITH_TEST_POSTGRES=postgres://kith@127.0.0.1:PORT/kith
#   KITH_TEST_POSTGRES_PASSWORD=kith-test
# When the command ends, fails or is interrupted, the server is stopped and
# the directory deleted; the script exits with the command's status. As root
# (as CI runs) the cluster belongs to the `postgres` user, since the server
# refuses to run as root. Needs Debian's `postgresql` package (or any server
# whose binaries `pg_config --bindir` names).
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGUMENT...]" >&2
  exit 2
fi

bindir=""
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
  bindir="$(pg_config --bindir)"
else
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ]; then bindir="$d"; break; fi
  done
fi
if [ -z "$bindir" ]; then
  echo "with-postgres.sh: no PostgreSQL server found (install Debian's postgresql package)" >&2
  exit 1
fi

as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "with-postgres.sh: running as root needs the user postgres (made by the postgresql package)" >&2
    exit 1
  fi
  as_owner=(runuser -u postgres --)
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/kith-postgres.XXXXXX")"
child=""

cleanup() {
  if [ -n "$child" ]; then
    # Everything in the command's session: the processes it started too,
    # which Foundation's Process puts in process groups of their own.
    pkill -TERM -s "$child" 2>/dev/null || true
    for _ in $(seq 50); do
      pgrep -s "$child" >/dev/null 2>&1 || break
      sleep 0.2
    done
    pkill -KILL -s "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$dir/socket"
if [ ${#as_owner[@]} -gt 0 ]; then chown -R postgres: "$dir"; fi

"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --auth-local=trust --auth-host=scram-sha-256 --no-sync \
  --no-instructions >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }

# A free port: one nothing answers on, and tried again with another if the
# server cannot take it after all.
port=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
  candidate=$((20000 + RANDOM % 40000))
  if (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then continue; fi
  if "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$candidate -c unix_socket_directories='$dir/socket' -c fsync=on -c max_connections=400" \
      start >/dev/null; then
    port="$candidate"
    break
  fi
done
if [ -z "$port" ]; then
  echo "with-postgres.sh: the server did not start; its log:" >&2
  cat "$dir/server.log" >&2 || true
  exit 1
fi

"${as_owner[@]}" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/socket" -p "$port" -U postgres -d postgres \
  -c "CREATE ROLE kith LOGIN CREATEDB PASSWORD 'kith-test'" -c "CREATE DATABASE kith OWNER kith" >/dev/null

export KITH_TEST_POSTGRES="postgres://kith@127.0.0.1:$port/kith"
export KITH_TEST_POSTGRES_PASSWORD="kith-test"

# The command in a session of its own (this script is no group leader, so
# setsid does not fork: the session's id is the command's pid), so that an
# interruption ends it and whatever it started before the cluster goes.
setsid "$@" &
child=$!
status=0
wait "$child" || status=$?
child=""
exit "$status"
