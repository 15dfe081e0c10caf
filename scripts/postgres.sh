#!/usr/bin/env bash
# postgres.sh: a throwaway PostgreSQL 15 cluster (Debian's packages) for tests.
#
#   scripts/postgres.sh start DIR PORT   create (first time) and start a cluster in DIR
#   scripts/postgres.sh stop DIR         stop exactly the cluster in DIR (pg_ctl stop -m fast)
#
# start installs Debian's postgresql with apt-get only when /usr/lib/postgresql/15/bin
# lacks it (apt-get update, then retry, when the package lists are missing),
# then runs the server from that directory with pg_ctl: no systemd, no
# pg_ctlcluster, nothing under /etc/postgresql or /var/lib/postgresql is touched.
# The cluster listens ONLY on 127.0.0.1:PORT over TCP (scram-sha-256 password)
# and on a unix socket in DIR/sock (peer auth, superuser only). When it is ready,
# start writes DIR/pg.env (shell syntax, `set -a; . DIR/pg.env` works):
#   PGURL=postgres://kdump:PASSWORD@127.0.0.1:PORT/kdump
#   PGHOST=127.0.0.1 PGPORT=PORT PGUSER=kdump PGPASSWORD=PASSWORD PGDATABASE=kdump
# Role kdump (LOGIN CREATEDB, owner of database kdump) has a random hex password
# made on the first start and kept in pg.env across restarts.
#
# Layout: DIR/data (PGDATA), DIR/sock (unix socket), DIR/postgres.log, DIR/pg.env.
# Idempotent: start on a running cluster only re-checks the role, database and
# pg.env (a different PORT restarts it on the new port); stop on a stopped or
# missing cluster succeeds. As root, DIR is chowned to the `postgres` OS user
# (initdb and pg_ctl refuse to run as root) and every server command runs as
# postgres; as another user, everything runs as that user.
# Errors name the failed step on stderr ("postgres.sh: FAILED at step ...").
set -Eeuo pipefail

BIN=/usr/lib/postgresql/15/bin
STEP="arguments"
LOG=

fail() {
  echo "postgres.sh: FAILED at step: $STEP${1:+: $1}" >&2
  if [ -n "$LOG" ] && [ -s "$LOG" ]; then
    echo "postgres.sh: last lines of $LOG:" >&2
    tail -n 15 "$LOG" | sed 's/^/  | /' >&2
  fi
  exit 1
}
trap 'fail "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
say() { echo "postgres.sh: $*" >&2; }

# shellcheck source=lib/engine-args.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/engine-args.sh"
parse_engine_args "$@"
DATA="$DIR/data"
SOCK="$DIR/sock"
LOG="$DIR/postgres.log"
ENV_FILE="$DIR/pg.env"
# The server's messages in English whatever the caller's locale (which may not be generated).
export LC_ALL=C
unset PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGDATA PGSERVICE PGOPTIONS

# Run a command as the OS user that owns the cluster.
if [ "$(id -u)" = 0 ]; then
  PGOS_USER=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  PGOS_USER=$(id -un)
  as_owner() { "$@"; }
fi
# Not inside a directory the cluster owner may not enter (psql and pg_ctl warn or fail).
cd /

pg_running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

if [ "$CMD" = stop ]; then
  STEP="stop (pg_ctl stop -m fast -D $DATA)"
  if [ ! -f "$DATA/PG_VERSION" ]; then say "no cluster in $DIR: nothing to stop"; exit 0; fi
  if [ ! -x "$BIN/pg_ctl" ]; then fail "$BIN/pg_ctl missing: cannot stop the cluster in $DIR"; fi
  # pg_ctl must run as the data directory's owner.
  if [ "$(id -u)" = 0 ]; then owner=$(stat -c %U "$DATA"); as_owner() { runuser -u "$owner" -- "$@"; }; fi
  if pg_running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    say "stopped the cluster in $DIR"
  else
    say "cluster in $DIR is not running"
  fi
  exit 0
fi

# ---- start ------------------------------------------------------------------
t0=$(date +%s%N)

STEP="install postgresql-15 (apt-get)"
if [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/postgres" ] || [ ! -x "$BIN/pg_ctl" ] || [ ! -x "$BIN/pg_isready" ] || [ ! -x "$BIN/psql" ]; then
  SUDO=
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "PostgreSQL 15 is not installed ($BIN) and installing it needs root or sudo"
    SUDO='sudo -n'  # never prompt: a test run must not hang on a password
  fi
  command -v apt-get >/dev/null || fail "PostgreSQL 15 is not installed ($BIN) and there is no apt-get"
  # Debian's postgresql package also creates (and, where services start, runs)
  # the system cluster 15/main on port 5432; this script never uses it.
  apt_install() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2; }
  say "installing Debian's postgresql (apt-get install postgresql)"
  if ! apt_install; then
    say "apt-get install failed; running apt-get update and retrying"
    $SUDO apt-get update -q >&2 || fail "apt-get update failed"
    apt_install || fail "apt-get install postgresql failed"
  fi
  [ -x "$BIN/initdb" ] || fail "apt-get installed postgresql but $BIN/initdb is missing (not version 15?)"
fi
if [ "$PGOS_USER" = postgres ] && ! id postgres >/dev/null 2>&1; then
  fail "OS user 'postgres' does not exist (Debian's postgresql-common creates it)"
fi

STEP="prepare $DIR"
# The unix socket path must fit in sun_path (107 bytes).
sockpath="$SOCK/.s.PGSQL.$PORT"
[ ${#sockpath} -le 107 ] || fail "socket path $sockpath is longer than 107 bytes: use a shorter DIR"
mkdir -p "$DIR"
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$DIR"
  chmod 0700 "$DIR"
  as_owner test -w "$DIR" || fail "user postgres cannot reach $DIR (a parent directory is not searchable by it): use a DIR under /tmp"
fi
as_owner mkdir -p "$SOCK"
as_owner chmod 0700 "$SOCK"

STEP="initdb $DATA"
if [ ! -f "$DATA/PG_VERSION" ]; then
  if [ -e "$DATA" ] && [ -n "$(ls -A "$DATA" 2>/dev/null)" ]; then
    fail "$DATA exists, is not empty and is not a cluster"
  fi
  # --no-sync: a throwaway cluster does not need initdb's fsyncs.
  as_owner "$BIN/initdb" -D "$DATA" -U "$PGOS_USER" -E UTF8 --no-locale --no-sync \
    --auth-local=peer --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 \
    || { LOG="$DIR/initdb.log"; fail "initdb failed"; }
fi
# Settings live in a file of their own, included once from postgresql.conf and
# rewritten on every start (the port may change).
STEP="configure $DATA"
as_owner tee "$DATA/kdump-test.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh on every start: a throwaway test cluster.
listen_addresses = '127.0.0.1'   # loopback only; never 0.0.0.0 or ::
port = $PORT
unix_socket_directories = '$SOCK'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
max_connections = 100
shared_buffers = 16MB
# Durability traded for speed, acceptable ONLY because this cluster is thrown
# away after the tests: an OS crash may lose or corrupt it, a process crash
# does not (PostgreSQL's own crash recovery still works with fsync off as long
# as the kernel survives).
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
log_connections = off
EOF
grep -qx "include 'kdump-test.conf'" "$DATA/postgresql.conf" \
  || echo "include 'kdump-test.conf'" | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
as_owner tee "$DATA/pg_hba.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh. TYPE DATABASE USER ADDRESS METHOD
local all $PGOS_USER peer
host  all all 127.0.0.1/32 scram-sha-256
EOF

STEP="start the server (pg_ctl start, port $PORT)"
if pg_running; then
  # postmaster.pid: line 4 is the port the running server listens on.
  current=$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)
  if [ "$current" = "$PORT" ]; then
    say "cluster in $DIR already running on port $PORT"
  else
    say "cluster in $DIR running on another port (${current:-unknown}): restarting on $PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  fi
fi
if ! pg_running; then
  # pg_ctl (as the owner) creates or appends to the log.
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null \
    || fail "pg_ctl start failed (port $PORT in use? see the log)"
fi

STEP="wait for the server (pg_isready -h 127.0.0.1 -p $PORT)"
ready=0
for _ in $(seq 1 150); do
  if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || fail "not accepting connections on 127.0.0.1:$PORT after 30 s"

STEP="create role and database kdump"
PASSWORD=
if [ -f "$ENV_FILE" ]; then PASSWORD=$(sed -n 's/^PGPASSWORD=//p' "$ENV_FILE"); fi
if ! [[ "$PASSWORD" =~ ^[0-9a-f]{32}$ ]]; then
  PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
fi
psql_su() { as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$PGOS_USER" -d postgres "$@"; }
# Variables (:'pw') are interpolated only in script input, hence stdin, not -c.
psql_su -v pw="$PASSWORD" >/dev/null <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kdump') AS missing \gset
\if :missing
  CREATE ROLE kdump LOGIN CREATEDB;
\endif
ALTER ROLE kdump LOGIN CREATEDB PASSWORD :'pw';
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'kdump') AS missing \gset
\if :missing
  CREATE DATABASE kdump OWNER kdump;
\endif
SQL

STEP="write $ENV_FILE"
umask 077
tmp="$ENV_FILE.tmp.$$"
cat >"$tmp" <<EOF
PGURL=postgres://kdump:$PASSWORD@127.0.0.1:$PORT/kdump
PGHOST=127.0.0.1
PGPORT=$PORT
PGUSER=kdump
PGPASSWORD=$PASSWORD
PGDATABASE=kdump
EOF
mv -f "$tmp" "$ENV_FILE"

STEP="check a password login over TCP"
PGPASSWORD=$PASSWORD "$BIN/psql" -X -h 127.0.0.1 -p "$PORT" -U kdump -d kdump -tAc 'SELECT 1' >/dev/null \
  || fail "role kdump cannot log in with its password on 127.0.0.1:$PORT"

ms=$(( ($(date +%s%N) - t0) / 1000000 ))
say "ready on 127.0.0.1:$PORT in ${ms} ms (data $DATA, env $ENV_FILE)"
