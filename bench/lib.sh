# Helpers shared by the bench scripts (sourced, not run): building, a
# temporary configuration, starting and stopping the server, a quiet-machine
# check. Every script that sources this gets a trap that stops the server
# and removes the temporary folder, however it ends.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# A run waits for the machine to be this quiet (busy % of all CPUs).
QUIET_MAX=${QUIET_MAX:-15}

WORK=$(mktemp -d /tmp/rs-bench.XXXXXX)
# The server drops privileges when started as root; it must still be able
# to write here (callgrind writes its profile at exit).
chmod 1777 "$WORK"
SERVER_PID=

cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

build() {
    [[ ${SKIP_BUILD:-0} == 1 ]] && return
    log "building release binaries in $CARGO_TARGET_DIR ..."
    (cd "$ROOT" && cargo build --release -p ringsocket -p rs-load &&
        cargo build --release -p rs-examples --examples) >&2 ||
        die "build failed"
}

# A loopback port nothing listens on.
free_port() {
    local port tries
    for tries in $(seq 1 200); do
        port=$((20000 + RANDOM % 30000))
        if [[ -z $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

# write_config PORT FD_LIMIT: the echo and broadcast apps, one worker.
write_config() {
    local port=$1 fds=$2 user_line=
    # As root the server switches to an unprivileged user after binding.
    [[ $(id -u) == 0 ]] && user_line='"user": "nobody",'
    cat >"$WORK/ringsocket.json5" <<EOF
{
  "ports": [{ "port_number": $port, "is_unencrypted": true, "ip_addrs": ["127.0.0.1"] }],
  "apps": [{
    "name": "echo",
    "app_path": "$BIN/examples/libecho.so",
    "endpoints": [{ "endpoint_id": 0, "url": "ws://127.0.0.1:$port/echo", "allowed_origins": ["*"] }]
  }, {
    "name": "broadcast",
    "app_path": "$BIN/examples/libbroadcast.so",
    "endpoints": [{ "endpoint_id": 0, "url": "ws://127.0.0.1:$port/broadcast", "allowed_origins": ["*"] }]
  }],
  "worker_c": 1,
  "fd_alloc_c": $fds,
  $user_line
  "log_level": "warning"
}
EOF
    "$BIN/ringsocket" --check "$WORK/ringsocket.json5" >/dev/null ||
        die "the generated configuration is invalid: $WORK/ringsocket.json5"
}

# start_server PORT [WRAPPER...]: the server pinned to SERVER_CPU, waiting
# (up to START_WAIT seconds) until it listens.
start_server() {
    local port=$1
    shift
    taskset -c "$SERVER_CPU" "$@" "$BIN/ringsocket" "$WORK/ringsocket.json5" \
        >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local waited=0
    until [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; do
        kill -0 "$SERVER_PID" 2>/dev/null || {
            cat "$WORK/server.log" >&2
            SERVER_PID=
            die "the server exited at startup"
        }
        sleep 0.1
        waited=$((waited + 1))
        ((waited < ${START_WAIT:-10} * 10)) || die "the server did not listen on $port"
    done
}

# Stops the server: SIGTERM (a graceful shutdown), then SIGKILL after
# STOP_WAIT seconds.
stop_server() {
    [[ -z $SERVER_PID ]] && return
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        sleep 0.1
        waited=$((waited + 1))
        if ((waited > ${STOP_WAIT:-10} * 10)); then
            log "bench: the server ignored SIGTERM; killing it"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
    done
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# Percentage of all CPUs busy over one second.
busy_percent() {
    local a b
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep 1
    read -r -a b < <(grep '^cpu ' /proc/stat)
    local total=0 idle i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    ((total > 0)) || { echo 0; return; }
    echo $(((total - idle) * 100 / total))
}

# Waits (up to about 30 s) for the machine to be quiet; prints "quiet" or
# "busy" (then the run's numbers are marked).
quiet_check() {
    local busy tries
    for tries in $(seq 1 10); do
        busy=$(busy_percent)
        if ((busy <= QUIET_MAX)); then
            echo quiet
            return
        fi
        log "  machine busy ($busy% CPU), waiting..."
        sleep 2
    done
    echo busy
}

# The value of KEY in a RESULT line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# The median of numbers on stdin ("-" when none).
median() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
