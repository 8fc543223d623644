# shellcheck shell=bash
# Helpers shared by the bench scripts (sourced, not run): building, a
# temporary configuration, starting and stopping the server (RingSocket or a
# peer from bench/peers), a quiet-machine check, rs-load runs and their
# medians. Every script that sources this gets a trap that stops the server
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
# Every rs-load run's RESULT line, as QUIET<TAB>KEY<TAB>RESULT (run_load).
RESULTS=$WORK/results.txt
: >"$RESULTS"

cleanup() {
    stop_server || true
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

# The peer servers: their own workspace, never part of the root's build.
build_peers() {
    [[ ${SKIP_BUILD:-0} == 1 ]] && return
    log "building the peers (bench/peers) in $CARGO_TARGET_DIR ..."
    cargo build --release --manifest-path "$ROOT/bench/peers/Cargo.toml" >&2 ||
        die "building the peers failed"
}

# A loopback port no socket uses, outside the ephemeral range (where a
# client socket, rs-load's or anyone's, could take it before the server
# binds it).
free_port() {
    local port low=10000 high eph_low eph_high
    read -r eph_low eph_high </proc/sys/net/ipv4/ip_local_port_range
    high=$eph_low
    if ((eph_low < low + 2000)); then
        low=$((eph_high + 1)) high=65536
        # The ephemeral range is nearly all ports: take any.
        ((high - low >= 2000)) || low=10000
    fi
    for _ in $(seq 1 200); do
        port=$((low + RANDOM % (high - low)))
        if [[ -z $(ss -Htan "sport = :$port" 2>/dev/null) ]]; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

# write_config PORT FD_LIMIT [TLS_PORT CERT_DIR]: the echo and broadcast
# apps, one worker. With TLS_PORT also a wss:// port on 127.0.0.1 serving
# the echo app as wss://localhost:TLS_PORT/echo, with the certificate that
# make_certs wrote to CERT_DIR.
write_config() {
    local port=$1 fds=$2 tls_port=${3:-} certs=${4:-}
    local user_line='' tls_ports='' certs_line='' tls_endpoint=''
    # As root the server switches to an unprivileged user after binding.
    [[ $(id -u) == 0 ]] && user_line='"user": "nobody",'
    if [[ -n $tls_port ]]; then
        tls_ports=", { \"port_number\": $tls_port, \"ip_addrs\": [\"127.0.0.1\"] }"
        certs_line="\"certs\": [{ \"hostnames\": [\"localhost\"], \"privkey_path\": \"$certs/key.pem\", \"pubchain_path\": \"$certs/cert.pem\" }],"
        tls_endpoint=", { \"endpoint_id\": 1, \"url\": \"wss://localhost:$tls_port/echo\", \"allowed_origins\": [\"*\"] }"
    fi
    cat >"$WORK/ringsocket.json5" <<EOF
{
  "ports": [{ "port_number": $port, "is_unencrypted": true, "ip_addrs": ["127.0.0.1"] }$tls_ports],
  $certs_line
  "apps": [{
    "name": "echo",
    "app_path": "$BIN/examples/libecho.so",
    "endpoints": [{ "endpoint_id": 0, "url": "ws://127.0.0.1:$port/echo", "allowed_origins": ["*"] }$tls_endpoint]
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

# make_certs DIR: a throwaway CA (DIR/ca.pem) and a P-256 certificate for
# localhost signed by it (DIR/cert.pem, key DIR/key.pem), made with the
# openssl command, valid for two days.
make_certs() {
    local dir=$1
    command -v openssl >/dev/null || die "openssl is not installed (needed for wss://)"
    mkdir -p "$dir"
    (
        cd "$dir" &&
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -keyout ca.key -out ca.pem -days 2 -subj "/CN=rs-bench throwaway CA" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" &&
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -keyout key.pem -out cert.csr -subj "/CN=localhost" &&
            printf '%s\n' "subjectAltName=DNS:localhost" "basicConstraints=critical,CA:FALSE" \
                "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >cert.ext &&
            openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -days 2 -extfile cert.ext -out cert.pem
    ) >"$WORK/openssl.log" 2>&1 || {
        cat "$WORK/openssl.log" >&2
        die "openssl could not make the test certificates"
    }
}

# start_process PORT COMMAND...: COMMAND pinned to SERVER_CPU, its output
# appended to WORK/server.log, waiting (up to START_WAIT seconds) until
# something listens on PORT. Its pid is SERVER_PID, for stop_server and
# the trap.
start_process() {
    local port=$1
    shift
    taskset -c "$SERVER_CPU" "$@" >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local waited=0
    until [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; do
        kill -0 "$SERVER_PID" 2>/dev/null || {
            tail -20 "$WORK/server.log" >&2
            SERVER_PID=
            die "the server exited at startup ($*)"
        }
        sleep 0.1
        waited=$((waited + 1))
        ((waited < ${START_WAIT:-10} * 10)) || die "the server did not listen on $port ($*)"
    done
}

# start_server PORT [WRAPPER...]: RingSocket with write_config's
# configuration.
start_server() {
    local port=$1
    shift
    start_process "$port" "$@" "$BIN/ringsocket" "$WORK/ringsocket.json5"
}

# start_peer NAME PORT: the bench/peers server peer-NAME (tungstenite,
# fastws) on 127.0.0.1:PORT with PEER_THREADS (1) tokio worker threads.
start_peer() {
    start_process "$2" "$BIN/peer-$1" --port "$2" --threads "${PEER_THREADS:-1}"
}

# Stops the server: SIGTERM (a graceful shutdown), then SIGKILL after
# STOP_WAIT seconds.
stop_server() {
    # (An explicit 0: a bare return in the EXIT trap would return the
    # status of the `exit` that ran the trap.)
    [[ -z $SERVER_PID ]] && return 0
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
    local busy
    for _ in $(seq 1 10); do
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

# run_load KEY ARGS...: one rs-load run, pinned to CLIENT_CPU after a
# quiet-machine check, measuring SERVER_PID's CPU use; its RESULT line is
# kept in RESULTS under KEY. Any failure (a wrong byte, a refused
# handshake) ends the script.
run_load() {
    local key=$1 quiet out result
    shift
    quiet=$(quiet_check)
    out=$(taskset -c "$CLIENT_CPU" "$BIN/rs-load" "$@" --server-pid "$SERVER_PID") ||
        die "rs-load failed in \"$key\" (server log: $(tail -3 "$WORK/server.log"))"
    result=$(grep '^RESULT ' <<<"$out")
    printf '%s\t%s\t%s\n' "$quiet" "$key" "$result" >>"$RESULTS"
    log "  $key: $(field "$result" rate)/s (server $(field "$result" server_cpu)%, client $(field "$result" client_cpu)%)${quiet/quiet/}"
}

# The RESULT lines kept under KEY.
results_for() { awk -F'\t' -v k="$1" '$2 == k { print $3 }' "$RESULTS"; }

# median_of KEY FIELD: the median of FIELD over KEY's runs ("-" when none).
median_of() {
    local line
    results_for "$1" | while read -r line; do field "$line" "$2"; done |
        { grep -v '^-$' || true; } | median
}

# rate_min_max KEY: the lowest and highest rate of KEY's runs ("- -" when
# none).
rate_min_max() {
    local line rates
    rates=$(results_for "$1" | while read -r line; do field "$line" rate; done | sort -g)
    [[ -n $rates ]] || { echo - -; return; }
    echo "$(head -1 <<<"$rates") $(tail -1 <<<"$rates")"
}

# rate_range KEY: the lowest and highest rate of KEY's runs, as MIN-MAX
# (whole numbers, truncated).
rate_range() {
    local low high
    read -r low high < <(rate_min_max "$1")
    [[ $low == - ]] && { echo -; return; }
    echo "${low%.*}-${high%.*}"
}

# busy_mark KEY: " (N busy)" when N of KEY's runs found the machine busy.
busy_mark() {
    local busy
    busy=$(awk -F'\t' -v k="$1" '$2 == k && $1 == "busy"' "$RESULTS" | wc -l)
    ((busy == 0)) || echo " ($busy busy)"
}

# The resident memory of process PID, in KiB.
vm_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# fd_limit_allows CONNS: whether rs-load (and a peer, which inherits the
# limit) may open CONNS connections; says why not otherwise.
fd_limit_allows() {
    (($(ulimit -n) >= $1 + 100)) && return 0
    log "idle: skipped, the fd limit $(ulimit -n) is below $1 connections (raise ulimit -n)"
    return 1
}

# idle_run KEY URL CONNS: on a freshly started server (SERVER_PID), its
# VmRSS after a second (FRESH_KIB), then rs-load idle holding CONNS
# connections; the RESULT line (IDLE_LINE, with fresh_kib= added) is kept
# in RESULTS under KEY.
idle_run() {
    local key=$1 url=$2 conns=$3 out
    sleep 1
    FRESH_KIB=$(vm_rss_kib "$SERVER_PID")
    log "  $key: fresh server VmRSS $FRESH_KIB KiB; opening $conns connections"
    out=$(taskset -c "$CLIENT_CPU" "$BIN/rs-load" idle --url "$url" --conns "$conns" \
        --duration 2 --server-pid "$SERVER_PID") ||
        die "rs-load idle failed in \"$key\" (server log: $(tail -3 "$WORK/server.log"))"
    IDLE_LINE="$(grep '^RESULT ' <<<"$out") fresh_kib=$FRESH_KIB"
    printf 'quiet\t%s\t%s\n' "$key" "$IDLE_LINE" >>"$RESULTS"
}
