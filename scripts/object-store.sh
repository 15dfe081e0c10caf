#!/usr/bin/env bash
# object-store.sh: a throwaway single-node OpenStack Swift (Debian's packages)
# with its S3 API (the s3api middleware), for tests.
#
#   scripts/object-store.sh start DIR PORT   create (first time) and start a store in DIR
#   scripts/object-store.sh stop DIR         stop exactly the processes start left running
#
# start installs swift-proxy, swift-account, swift-container, swift-object and
# memcached with apt-get when any is missing (apt-get update, then retry, when
# the package lists are missing; service starts are blocked while installing),
# then runs five daemons itself: no systemd, no swift-init, nothing under
# /etc/swift or /srv is read or written.
#   proxy-server      127.0.0.1:PORT   S3 API (s3api + tempauth), the only port a client uses
#   account-server    127.0.0.1:free   \
#   container-server  127.0.0.1:free    > the storage servers, one device (DIR/srv/d1)
#   object-server     127.0.0.1:free   /
#   memcached         127.0.0.1:free   tempauth refuses to run without a cache
# The storage servers' ports are picked on the first start and kept in
# DIR/etc/ports (the rings name them). Replicators, auditors, updaters and the
# rest are not run: with one replica and live container/account servers,
# PUT, GET, multipart, listings and DELETE need only these.
#
# When the S3 API answers (a signed ListBuckets succeeds and bucket S3_BUCKET
# exists), start writes DIR/s3.env (shell syntax, `set -a; . DIR/s3.env` works):
#   S3_ENDPOINT=http://127.0.0.1:PORT  S3_REGION=us-east-1  S3_BUCKET=kdump-dumps
#   S3_ACCESS_KEY=kdump:dumps  S3_SECRET_KEY=<random hex, made on the first start>
#   S3_FORCE_PATH_STYLE=true   (no DNS-style bucket hosts on loopback)
# Signatures are AWS SigV4 checked by tempauth against that fixed key pair.
#
# Layout: DIR/etc (swift.conf, *-server.conf, rings, ports), DIR/srv/d1 (the
# device: objects, account and container databases), DIR/run (pid files:
# "PID START-TIME", so stop never kills a reused pid), DIR/log (one log per
# daemon), DIR/bin/swift-store.py (server launcher, ring builder, S3 probe), DIR/s3.env.
#
# Swift 2.30 reads swift.conf from the fixed path /etc/swift/swift.conf (only
# swift-recon honours swift_dir), so the daemons are started through
# DIR/bin/swift-store.py, which points Swift at DIR/etc/swift.conf and then
# calls the same run_wsgi() entry point as /usr/bin/swift-*-server. It also
# sends Swift's logs to the daemon's log file instead of syslog.
#
# Idempotent: start on a running store only re-checks it and rewrites s3.env
# (a different PORT restarts the proxy on the new port); stop on a stopped or
# missing store succeeds. As root the daemons run as the `swift` OS user
# (created by Debian's swift package) and DIR/etc and DIR/srv are chowned to
# it; as another user everything runs as that user. Swift keeps object
# metadata in user xattrs: DIR must be on a filesystem that has them (ext4,
# xfs, btrfs; tmpfs only from Linux 6.6). Errors name the failed step on
# stderr ("object-store.sh: FAILED at step ...").
set -Eeuo pipefail

PY=/usr/bin/python3 # Debian's python3: the one python3-swift is installed for
PACKAGES=(swift-proxy swift-account swift-container swift-object memcached)
SERVERS=(account-server container-server object-server)
ACCESS_KEY="kdump:dumps" # tempauth: account "kdump", user "dumps"
REGION=us-east-1
BUCKET=kdump-dumps
STEP="arguments"
LOG=

LAUNCHED=() # daemons this run started: a failed start stops them again
fail() {
  trap - ERR
  echo "object-store.sh: FAILED at step: $STEP${1:+: $1}" >&2
  if [ -n "$LOG" ] && [ -s "$LOG" ]; then
    echo "object-store.sh: last lines of $LOG:" >&2
    tail -n 15 "$LOG" | sed 's/^/  | /' >&2
  fi
  local name started=("${LAUNCHED[@]}")
  LAUNCHED=()
  for name in "${started[@]}"; do stop_one "$name" || true; done
  exit 1
}
trap 'fail "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
say() { echo "object-store.sh: $*" >&2; }

# shellcheck source=lib/engine-args.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/engine-args.sh"
parse_engine_args "$@"
ETC="$DIR/etc"
SRV="$DIR/srv"
RUN="$DIR/run"
LOGS="$DIR/log"
HELPER="$DIR/bin/swift-store.py"
ENV_FILE="$DIR/s3.env"
export LC_ALL=C
cd /

# ---- process bookkeeping ------------------------------------------------------
# A pid file holds "PID START-TIME" (field 22 of /proc/PID/stat, clock ticks
# since boot): a pid the kernel has since given to another process does not match.
# Prints nothing for a process that is gone or a zombie.
start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  # shellcheck disable=SC2086 # split the fields after "PID (COMM) "
  set -- ${stat##*) }
  # A zombie has exited; only its parent's wait() is missing (pid 1 in a container may be slow).
  case $1 in Z|X) return 0;; esac
  echo "${20}"
}
# Prints the pid of NAME if the process start recorded is still running.
our_pid() {
  local file="$RUN/$1.pid" pid started
  [ -f "$file" ] || return 1
  read -r pid started <"$file" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -n "$started" ] && [ "$(start_time "$pid")" = "$started" ] || return 1
  echo "$pid"
}
# Stops NAME: SIGTERM, up to 10 s, then SIGKILL. Only the recorded process.
stop_one() {
  local name=$1 pid
  if pid=$(our_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do our_pid "$name" >/dev/null || break; sleep 0.1; done
    if our_pid "$name" >/dev/null; then
      say "$name (pid $pid) still running after 10 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do our_pid "$name" >/dev/null || break; sleep 0.1; done
    fi
    our_pid "$name" >/dev/null && fail "$name (pid $pid) does not exit"
    say "stopped $name (pid $pid)"
  fi
  rm -f "$RUN/$name.pid"
}
stop_all() {
  local name
  for name in proxy-server "${SERVERS[@]}" memcached; do stop_one "$name"; done
}

if [ "$CMD" = stop ]; then
  STEP="stop (the processes recorded in $RUN)"
  if [ ! -d "$RUN" ]; then say "no store in $DIR: nothing to stop"; exit 0; fi
  stop_all
  exit 0
fi

# ---- start --------------------------------------------------------------------
t0=$(date +%s%N)

STEP="install ${PACKAGES[*]} (apt-get)"
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "${missing[*]} not installed and installing needs root or sudo"
    SUDO=sudo
  fi
  command -v apt-get >/dev/null || fail "${missing[*]} not installed and there is no apt-get"
  # The packages' maintainer scripts start the system-wide services (swift-proxy
  # on :8080 with /etc/swift, memcached on :11211) where init scripts run; a
  # policy-rc.d that says "no" (101) for the install keeps them stopped. One that
  # is already there is left alone.
  POLICY=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# scripts/object-store.sh: no service starts while it installs packages\nexit 101\n' \
      | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    made_policy=1
    # Removed however this script ends.
    trap '$SUDO rm -f "$POLICY"' EXIT
  fi
  apt_install() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
  say "installing Debian's ${missing[*]} (apt-get install)"
  ok=1
  if ! apt_install; then
    say "apt-get install failed; running apt-get update and retrying"
    if $SUDO apt-get update -q >&2; then apt_install || ok=0; else ok=0; fi
  fi
  if [ "$made_policy" = 1 ]; then $SUDO rm -f "$POLICY"; trap - EXIT; fi
  [ "$ok" = 1 ] || fail "apt-get install ${missing[*]} failed"
fi
for b in /usr/bin/memcached "$PY"; do
  [ -x "$b" ] || fail "$b missing after installing ${PACKAGES[*]}"
done
[ -f /usr/lib/python3/dist-packages/swift/common/middleware/s3api/s3api.py ] \
  || fail "python3-swift has no s3api middleware (/usr/lib/python3/dist-packages/swift/common/middleware/s3api)"

STEP="choose the OS user"
if [ "$(id -u)" = 0 ]; then
  RUN_AS=swift
  id swift >/dev/null 2>&1 || fail "OS user 'swift' does not exist (Debian's swift package creates it)"
  as_owner() { runuser -u swift -- "$@"; }
  # Swift drops privileges only in forked workers (workers = 0 forks none);
  # setpriv switches user and then execs, so the recorded pid is the server's.
  AS_OWNER_EXEC=(setpriv --reuid=swift --regid=swift --init-groups --reset-env)
  MEMCACHED_USER=(-u nobody) # memcached refuses to run as root without -u
else
  RUN_AS=$(id -un)
  as_owner() { "$@"; }
  AS_OWNER_EXEC=()
  MEMCACHED_USER=()
fi

STEP="prepare $DIR"
mkdir -p "$DIR" "$ETC" "$SRV/d1" "$RUN" "$LOGS" "$DIR/bin"
if [ "$(id -u)" = 0 ]; then
  chown -R swift: "$ETC" "$SRV"
  chmod 0711 "$DIR"
  as_owner test -w "$SRV/d1" || fail "user swift cannot reach $SRV/d1 (a parent directory is not searchable by it): use a DIR under /tmp"
fi

STEP="check user xattrs on $SRV (Swift stores object metadata in them)"
as_owner "$PY" - "$SRV/d1" <<'PYEOF' || fail "the filesystem under $DIR has no user xattrs (tmpfs before Linux 6.6?): put DIR on ext4, xfs or btrfs"
import os, sys
probe = os.path.join(sys.argv[1], '.xattr-probe')
open(probe, 'w').close()
try:
    os.setxattr(probe, 'user.swift.probe', b'1')
    assert os.getxattr(probe, 'user.swift.probe') == b'1'
finally:
    os.unlink(probe)
PYEOF

STEP="write $HELPER"
cat >"$HELPER" <<'PYEOF'
#!/usr/bin/python3
# Written by scripts/object-store.sh on every start.
#   swift-store.py serve SWIFT_CONF SERVER CONF   run one Swift server (foreground)
#   swift-store.py probe ENDPOINT REGION ACCESS SECRET BUCKET
#                         signed ListBuckets, then create BUCKET if missing; exit 0 when both work
#   swift-store.py free-ports N                   N loopback ports nothing listens on
#   swift-store.py rings ETC NAME:PORT...         build ETC/NAME.builder and ETC/NAME.ring.gz
import sys


def serve(swift_conf, server, conf):
    import logging
    from swift.common import utils
    # Before anything loads storage policies or the hash prefix/suffix.
    utils.SWIFT_CONF_FILE = swift_conf

    class NoSyslog(logging.NullHandler):
        def __init__(self, *args, **kwargs):
            super().__init__()
    # Logs go to the console handler (stderr: the daemon's log file), not syslog.
    utils.ThreadSafeSysLogHandler = NoSyslog
    from swift.common import storage_policy
    storage_policy.reload_storage_policies()
    utils.validate_configuration()
    from swift.common.wsgi import run_wsgi
    options = {'verbose': True}
    if server == 'object-server':
        from swift.obj import server as object_server
        options['global_conf_callback'] = object_server.global_conf_callback
    return run_wsgi(conf, server, **options)


def signed_request(endpoint, region, access, secret, method, path):
    """One AWS SigV4-signed request without a body; returns (status, body)."""
    import datetime, hashlib, hmac, http.client, urllib.parse
    url = urllib.parse.urlsplit(endpoint)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime('%Y%m%dT%H%M%SZ'), now.strftime('%Y%m%d')
    empty = hashlib.sha256(b'').hexdigest()
    headers = {'host': url.netloc, 'x-amz-content-sha256': empty, 'x-amz-date': amz_date}
    signed = ';'.join(sorted(headers))
    canonical = '\n'.join([method, path, '', *(f'{k}:{headers[k]}' for k in sorted(headers)), '', signed, empty])
    scope = f'{day}/{region}/s3/aws4_request'
    to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ('AWS4' + secret).encode()
    for part in (day, region, 's3', 'aws4_request'):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers['authorization'] = f'AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}'
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode('utf-8', 'replace')
    finally:
        conn.close()


def probe(endpoint, region, access, secret, bucket):
    status, body = signed_request(endpoint, region, access, secret, 'GET', '/')
    if status != 200:
        print(f'ListBuckets: HTTP {status}: {body[:300]}', file=sys.stderr)
        return 1
    if f'<Name>{bucket}</Name>' in body:
        return 0
    status, body = signed_request(endpoint, region, access, secret, 'PUT', '/' + bucket)
    if status != 200 and 'BucketAlreadyOwnedByYou' not in body:
        print(f'CreateBucket {bucket}: HTTP {status}: {body[:300]}', file=sys.stderr)
        return 1
    return 0


def rings(etc, *specs):
    """What `swift-ring-builder NAME.builder create 6 1 1; add ...; rebalance` does,
    in one process (each swift-ring-builder run costs a second of imports)."""
    from swift.common.ring import RingBuilder
    for spec in specs:
        name, port = spec.split(':')
        # 2^6 partitions, 1 replica, 1 hour between moves of a partition (never moved here).
        builder = RingBuilder(6, 1, 1)
        builder.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port),
                         'device': 'd1', 'weight': 100, 'meta': ''})
        builder.rebalance()
        builder.save(f'{etc}/{name}.builder')
        builder.get_ring().save(f'{etc}/{name}.ring.gz')
        print(f'{name} ring: device d1 on 127.0.0.1:{port}')
    return 0


def free_ports(n):
    import socket
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        socks.append(s)
    print(' '.join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()
    return 0


if __name__ == '__main__':
    command, args = sys.argv[1], sys.argv[2:]
    try:
        sys.exit({'serve': serve, 'probe': probe, 'free-ports': free_ports, 'rings': rings}[command](*args))
    except OSError as e:  # probe: connection refused while the proxy starts
        print(f'{command}: {e}', file=sys.stderr)
        sys.exit(1)
PYEOF
chmod 755 "$HELPER"

STEP="choose ports (kept in $ETC/ports)"
if [ ! -f "$ETC/ports" ]; then
  read -r p1 p2 p3 p4 < <("$PY" "$HELPER" free-ports 4)
  printf 'ACCOUNT_PORT=%s\nCONTAINER_PORT=%s\nOBJECT_PORT=%s\nMEMCACHED_PORT=%s\n' "$p1" "$p2" "$p3" "$p4" >"$ETC/ports"
fi
# shellcheck disable=SC1091
. "$ETC/ports"
for p in "$ACCOUNT_PORT" "$CONTAINER_PORT" "$OBJECT_PORT" "$MEMCACHED_PORT"; do
  [ "$p" != "$PORT" ] || fail "PORT $PORT is also one of this store's internal ports ($ETC/ports): choose another"
done

STEP="credentials"
SECRET=
if [ -f "$ENV_FILE" ]; then SECRET=$(sed -n 's/^S3_SECRET_KEY=//p' "$ENV_FILE"); fi
if ! [[ "$SECRET" =~ ^[0-9a-f]{32}$ ]]; then SECRET=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n'); fi

STEP="write the configuration ($ETC)"
umask 022
# The hash prefix/suffix place objects on disk: made once, never changed.
if [ ! -f "$ETC/swift.conf" ]; then
  hash=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
  cat >"$ETC/swift.conf" <<EOF
# Written once by scripts/object-store.sh (never change the hash: it places the objects).
[swift-hash]
swift_hash_path_prefix = kdump-$hash
swift_hash_path_suffix = netdump-$hash

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
# S3 allows parts of up to 5 GiB; Swift's default object limit is 5 GiB + 2 bytes.
max_file_size = 5368709122
EOF
fi
# Settings shared by the four servers.
common() {
  cat <<EOF
# Written by scripts/object-store.sh on every start: a throwaway test store.
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
# 0: serve in the one process this script started (no forked workers), so the
# pid file names everything there is to stop.
workers = 0
user = $RUN_AS
swift_dir = $ETC
devices = $SRV
# The device is a directory, not a mount point.
mount_check = false
disable_fallocate = true
# Give up at once on a taken port (the default retries the bind for 30 s).
bind_timeout = 2
log_level = INFO
EOF
}
for s in "${SERVERS[@]}"; do
  case $s in
    account-server) port=$ACCOUNT_PORT; egg=account;;
    container-server) port=$CONTAINER_PORT; egg=container;;
    object-server) port=$OBJECT_PORT; egg=object;;
  esac
  {
    common "$port"
    cat <<EOF
log_name = $s

[pipeline:main]
pipeline = $s

[app:$s]
use = egg:swift#$egg
# The proxy logs every request; the storage servers log only errors.
log_requests = false
EOF
  } >"$ETC/$s.conf"
done
{
  common "$PORT"
  cat <<EOF
log_name = proxy-server

[pipeline:main]
# s3api turns S3 requests into Swift ones and must sit before the auth
# middleware (tempauth checks the SigV4 signature with the user's key); slo
# stores completed multipart uploads as static large objects; copy serves
# UploadPartCopy; the others are the filters the proxy insists on.
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy bulk slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
# The tempauth account AUTH_kdump is created on first use.
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = $REGION
# AWS's limits: 10,000 parts, every part but the last at least 5 MiB.
max_upload_part_num = 10000
min_segment_size = 5242880

[filter:tempauth]
use = egg:swift#tempauth
# S3 access key kdump:dumps, secret key $SECRET
user_kdump_dumps = $SECRET .admin

[filter:slo]
use = egg:swift#slo
# A completed upload is one manifest listing its parts: room for 10,000.
max_manifest_segments = 10000
max_manifest_size = 8388608

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MEMCACHED_PORT

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:bulk]
use = egg:swift#bulk
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
EOF
} >"$ETC/proxy-server.conf"

STEP="build the rings (one device DIR/srv/d1, one replica)"
if [ ! -f "$ETC/account.ring.gz" ] || [ ! -f "$ETC/container.ring.gz" ] || [ ! -f "$ETC/object.ring.gz" ]; then
  LOG="$LOGS/rings.log"
  "$PY" "$HELPER" rings "$ETC" "account:$ACCOUNT_PORT" "container:$CONTAINER_PORT" "object:$OBJECT_PORT" >>"$LOG" 2>&1 \
    || fail "building the rings failed"
  LOG=
fi
[ "$(id -u)" != 0 ] || chown -R swift: "$ETC"

# Starts NAME in a session of its own, logging to DIR/log/NAME.log, and records it.
launch() {
  local name=$1 pid started
  shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 20); do started=$(start_time "$pid"); [ -n "$started" ] && break; sleep 0.05; done
  [ -n "$started" ] || { LOG="$LOGS/$name.log"; fail "$name exited at once"; }
  echo "$pid $started" >"$RUN/$name.pid"
  LAUNCHED+=("$name")
}
# Fails unless nothing listens on 127.0.0.1:PORT (NAME is about to).
require_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
    fail "127.0.0.1:$2 for $1: Address already in use (by a process this store did not start)"
  fi
}
# Waits until something accepts connections on 127.0.0.1:PORT; fails if NAME dies.
wait_listening() {
  local name=$1 port=$2
  for _ in $(seq 1 300); do
    our_pid "$name" >/dev/null || { LOG="$LOGS/$name.log"; fail "$name exited"; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  LOG="$LOGS/$name.log"
  fail "$name not listening on 127.0.0.1:$port after 30 s"
}

STEP="start memcached (127.0.0.1:$MEMCACHED_PORT)"
if ! our_pid memcached >/dev/null; then
  require_free memcached "$MEMCACHED_PORT"
  launch memcached /usr/bin/memcached -l 127.0.0.1 -p "$MEMCACHED_PORT" -U 0 -m 32 -c 256 "${MEMCACHED_USER[@]}"
fi

# The proxy runs on the PORT of its last start: another PORT restarts it.
if our_pid proxy-server >/dev/null && [ "$(cat "$RUN/proxy-server.port" 2>/dev/null)" != "$PORT" ]; then
  say "proxy-server running on another port: restarting it on $PORT"
  stop_one proxy-server
fi
for s in "${SERVERS[@]}" proxy-server; do
  STEP="start $s"
  if ! our_pid "$s" >/dev/null; then
    case $s in
      account-server) port=$ACCOUNT_PORT;; container-server) port=$CONTAINER_PORT;;
      object-server) port=$OBJECT_PORT;; proxy-server) port=$PORT;;
    esac
    require_free "$s" "$port"
    launch "$s" "${AS_OWNER_EXEC[@]}" "$PY" "$HELPER" serve "$ETC/swift.conf" "$s" "$ETC/$s.conf"
  fi
done
echo "$PORT" >"$RUN/proxy-server.port"
for s in memcached "${SERVERS[@]}" proxy-server; do
  case $s in
    memcached) port=$MEMCACHED_PORT;; account-server) port=$ACCOUNT_PORT;; container-server) port=$CONTAINER_PORT;;
    object-server) port=$OBJECT_PORT;; proxy-server) port=$PORT;;
  esac
  STEP="wait for $s (127.0.0.1:$port)"
  wait_listening "$s" "$port"
done

STEP="wait for the S3 API (signed ListBuckets, create bucket $BUCKET)"
ENDPOINT="http://127.0.0.1:$PORT"
ready=0
for _ in $(seq 1 150); do
  if "$PY" "$HELPER" probe "$ENDPOINT" "$REGION" "$ACCESS_KEY" "$SECRET" "$BUCKET" 2>"$LOGS/probe.log"; then ready=1; break; fi
  our_pid proxy-server >/dev/null || { LOG="$LOGS/proxy-server.log"; fail "proxy-server exited"; }
  sleep 0.2
done
[ "$ready" = 1 ] || { LOG="$LOGS/probe.log"; fail "no working S3 API on $ENDPOINT after 30 s (see also $LOGS/proxy-server.log)"; }

STEP="write $ENV_FILE"
umask 077
tmp="$ENV_FILE.tmp.$$"
cat >"$tmp" <<EOF
S3_ENDPOINT=$ENDPOINT
S3_REGION=$REGION
S3_BUCKET=$BUCKET
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$SECRET
S3_FORCE_PATH_STYLE=true
EOF
mv -f "$tmp" "$ENV_FILE"

ms=$(( ($(date +%s%N) - t0) / 1000000 ))
say "ready on $ENDPOINT in ${ms} ms (Swift s3api; state $DIR, env $ENV_FILE)"
cat "$ENV_FILE"
