#!/usr/bin/env bash
# RingSocket side by side with two peers built from crates.io
# (bench/peers: tokio-tungstenite and fastwebsockets) and a floor (a bare
# epoll loop that only reads, unmasks and writes back), under rs-load.
#
#   bench/compare.sh                                   # every setting, 3 rounds
#   ROUNDS=1 DURATION=2 SETTINGS="echo20 connect" bench/compare.sh
#
# For each setting each server runs alone in turn, freshly started on a
# free loopback port and pinned to CPU $SERVER_CPU, with rs-load on CPU
# $CLIENT_CPU after a quiet-machine check; the rounds interleave the servers
# (their order rotates from round to round). RingSocket has one worker
# (worker_c 1) and the echo and broadcast example apps; each peer has
# PEER_THREADS tokio worker threads. One markdown table per setting:
# medians over the rounds, the rate's min-max, and RingSocket's median
# rate divided by each server's.
#
# Settings (SETTINGS, space-separated; default all):
#   echo20 echo512 echo16k  echo 100 x 20 B, 1000 x 512 B, 100 x 16 KiB
#   broadcast100 broadcast1000  every message to every client
#   connect                 handshakes/s, 100 concurrent
#   idle                    VmRSS per idle connection, IDLE_CONNS of them,
#                           a fresh server per run
#   tls                     RingSocket only: echo 100 x 20 B and 100 x 16 KiB
#                           over wss:// and ws://, wss as a fraction of ws
#
# The floor (bare) shows what the kernel and rs-load leave to any server on
# this machine; it has no broadcast, so it sits out the broadcast settings.
#
# Environment: SETTINGS, SERVERS ("ringsocket tungstenite fastws bare"),
# ROUNDS (3), DURATION seconds per run (5), IDLE_CONNS (10000),
# PEER_THREADS (1), SKIP_BUILD=1, SERVER_CPU (0), CLIENT_CPU (1),
# QUIET_MAX (15, busy % of all CPUs), CARGO_TARGET_DIR.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
IDLE_CONNS=${IDLE_CONNS:-10000}
ALL_SETTINGS="echo20 echo512 echo16k broadcast100 broadcast1000 connect idle tls"
read -r -a CHOSEN <<<"${SETTINGS:-$ALL_SETTINGS}"
read -r -a SERVER_LIST <<<"${SERVERS:-ringsocket tungstenite fastws bare}"

declare -A LABEL=([ringsocket]=RingSocket [tungstenite]=tokio-tungstenite [fastws]=fastwebsockets
    [bare]="bare epoll loop (floor)")
# The load settings: title|unit|path|rs-load arguments.
declare -A LOAD=(
    [echo20]="echo 100 × 20 B|messages/s, latency per round trip|/echo|echo --conns 100 --size 20"
    [echo512]="echo 1000 × 512 B|messages/s, latency per round trip|/echo|echo --conns 1000 --size 512"
    [echo16k]="echo 100 × 16 KiB|messages/s, latency per round trip|/echo|echo --conns 100 --size 16384"
    [broadcast100]="broadcast, 100 clients|deliveries/s, latency per round|/broadcast|broadcast --conns 100 --size 20"
    [broadcast1000]="broadcast, 1000 clients|deliveries/s, latency per round|/broadcast|broadcast --conns 1000 --size 20"
    [connect]="connect, 100 concurrent|handshakes/s (open, upgrade, close), latency per handshake|/echo|connect --conns 100"
)
# The tls setting's runs: key|label|URL scheme|size.
TLS_RUNS=("ws20|ws:// 100 × 20 B|ws|20" "wss20|wss:// 100 × 20 B|wss|20"
    "ws16384|ws:// 100 × 16 KiB|ws|16384" "wss16384|wss:// 100 × 16 KiB|wss|16384")

for setting in "${CHOSEN[@]}"; do
    [[ -n ${LOAD[$setting]:-} || $setting == idle || $setting == tls ]] ||
        die "unknown setting \"$setting\" (known: $ALL_SETTINGS)"
done
NEED_PEERS=0
for server in "${SERVER_LIST[@]}"; do
    [[ -n ${LABEL[$server]:-} ]] || die "unknown server \"$server\" (known: ${!LABEL[*]})"
    [[ $server == ringsocket ]] || NEED_PEERS=1
done
chosen() { [[ " ${CHOSEN[*]} " == *" $1 "* ]]; }
# serves SERVER SETTING: whether SERVER can run SETTING.
serves() { [[ $1 != bare || $2 != broadcast* ]]; }

build
if ((NEED_PEERS)); then build_peers; fi
for server in "${SERVER_LIST[@]}"; do
    bin=$BIN/peer-$server
    [[ $server == ringsocket ]] && bin=$BIN/ringsocket
    [[ -x $bin ]] || die "$bin is missing (build it, or drop SKIP_BUILD=1)"
done
FDS=$((IDLE_CONNS + 1024))

# Why a setting printed no table.
declare -A SKIPPED
if chosen idle && ! fd_limit_allows "$IDLE_CONNS" 2>/dev/null; then
    # The soft limit may be raised up to the hard one without privileges.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    fd_limit_allows "$IDLE_CONNS" ||
        SKIPPED[idle]="skipped: the fd limit $(ulimit -n) is below $IDLE_CONNS connections (raise ulimit -n)"
fi
if chosen tls; then
    if [[ " ${SERVER_LIST[*]} " != *" ringsocket "* ]]; then
        SKIPPED[tls]="skipped: RingSocket is not among SERVERS"
    elif ! grep -q -- --ca <<<"$("$BIN/rs-load" --help 2>&1)"; then
        SKIPPED[tls]="skipped: rs-load has no wss:// support"
    else
        make_certs "$WORK/certs"
    fi
fi

# start_named SERVER PORT: RingSocket (with write_config) or a peer.
start_named() {
    if [[ $1 == ringsocket ]]; then
        write_config "$2" "$FDS"
        start_server "$2"
    else
        start_peer "$1" "$2"
    fi
}

# The servers of round $1: SERVER_LIST rotated, so no server always runs
# first (right after a build, or after another's heaviest setting).
round_order() {
    local n=${#SERVER_LIST[@]} i
    for ((i = 0; i < n; i++)); do
        echo "${SERVER_LIST[(i + $1 - 1) % n]}"
    done
}

log "servers: ${SERVER_LIST[*]} on CPU $SERVER_CPU; rs-load on CPU $CLIENT_CPU; settings: ${CHOSEN[*]}"
for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS"
    mapfile -t order < <(round_order "$round")
    for setting in "${CHOSEN[@]}"; do
        if [[ -n ${LOAD[$setting]:-} ]]; then
            IFS='|' read -r _ _ path args <<<"${LOAD[$setting]}"
            for server in "${order[@]}"; do
                serves "$server" "$setting" || continue
                port=$(free_port)
                start_named "$server" "$port"
                # shellcheck disable=SC2086 # args is a list of words
                run_load "$setting|$server" $args --url "ws://127.0.0.1:$port$path" \
                    --duration "$DURATION"
                stop_server
            done
        elif [[ $setting == idle && -z ${SKIPPED[idle]:-} ]]; then
            for server in "${order[@]}"; do
                port=$(free_port)
                start_named "$server" "$port"
                idle_run "idle|$server" "ws://127.0.0.1:$port/echo" "$IDLE_CONNS"
                stop_server
            done
        elif [[ $setting == tls && -z ${SKIPPED[tls]:-} ]]; then
            port=$(free_port)
            tls_port=$(free_port)
            write_config "$port" "$FDS" "$tls_port" "$WORK/certs"
            start_server "$port"
            [[ -n $(ss -Hltn "sport = :$tls_port" 2>/dev/null) ]] ||
                die "RingSocket does not listen on its wss:// port $tls_port"
            for run in "${TLS_RUNS[@]}"; do
                IFS='|' read -r key _ scheme size <<<"$run"
                if [[ $scheme == wss ]]; then
                    target=(--url "wss://localhost:$tls_port/echo" --ca "$WORK/certs/ca.pem")
                else
                    target=(--url "ws://127.0.0.1:$port/echo")
                fi
                run_load "tls|$key" echo --conns 100 --size "$size" "${target[@]}" \
                    --duration "$DURATION"
            done
            stop_server
        fi
    done
done

# Numbers for the tables: integers with thousands separators from 100 on,
# one decimal below.
num() {
    awk -v v="$1" 'BEGIN {
        if (v == "-" || v == "") { print "–"; exit }
        if (v + 0 < 100) { printf "%.1f\n", v; exit }
        s = sprintf("%.0f", v); out = ""
        while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
        print s out }'
}
# ratio A B: A / B as "1.23×" ("–" when either is missing).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "–";
        else printf "%.2f×\n", a / b }'
}
# lat KEY FIELD: a latency median; "–" when no round trip (round,
# handshake) completed in the runs (rs-load then reports 0).
lat() {
    local v
    v=$(median_of "$1" "$2")
    awk -v v="$v" 'BEGIN { exit !(v == "-" || v + 0 == 0) }' && { echo –; return; }
    num "$v"
}
# range KEY: the rate's min–max over KEY's runs.
range() {
    local low high
    read -r low high < <(rate_min_max "$1")
    [[ $low == - ]] && { echo –; return; }
    echo "$(num "$low")–$(num "$high")"
}
cpu() { echo "$(num "$(median_of "$1" server_cpu)") ($(num "$(median_of "$1" server_user)")/$(num "$(median_of "$1" server_sys)"))"; }

peer_version() {
    awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' \
        "$ROOT/bench/peers/Cargo.lock"
}

echo
echo "RingSocket $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (worker_c 1)," \
    "tokio-tungstenite $(peer_version tokio-tungstenite), fastwebsockets $(peer_version fastwebsockets)" \
    "(tokio $(peer_version tokio), ${PEER_THREADS:-1} worker thread(s));" \
    "server on CPU $SERVER_CPU, rs-load on CPU $CLIENT_CPU; $ROUNDS × ${DURATION} s per server and setting; medians."
for setting in "${CHOSEN[@]}"; do
    echo
    if [[ -n ${LOAD[$setting]:-} ]]; then
        IFS='|' read -r title unit _ _ <<<"${LOAD[$setting]}"
        echo "### $title"
        echo
        echo "$unit"
        echo
        echo "| server | rate/s | min–max | p50 µs | p99 µs | server CPU % (usr/sys) | rs-load CPU % | RingSocket ÷ this |"
        echo "|---|--:|--:|--:|--:|--:|--:|--:|"
        base=$(median_of "$setting|ringsocket" rate)
        for server in "${SERVER_LIST[@]}"; do
            serves "$server" "$setting" || continue
            key="$setting|$server"
            rate=$(median_of "$key" rate)
            echo "| ${LABEL[$server]}$(busy_mark "$key") | $(num "$rate") | $(range "$key")" \
                "| $(lat "$key" p50_us) | $(lat "$key" p99_us) | $(cpu "$key")" \
                "| $(num "$(median_of "$key" client_cpu)") | $(ratio "$base" "$rate") |"
        done
    elif [[ $setting == idle ]]; then
        echo "### idle, $(num "$IDLE_CONNS") connections (a fresh server per run)"
        echo
        if [[ -n ${SKIPPED[idle]:-} ]]; then
            echo "${SKIPPED[idle]}"
            continue
        fi
        echo "| server | fresh VmRSS KiB | with the connections KiB | B per connection | this ÷ RingSocket |"
        echo "|---|--:|--:|--:|--:|"
        base=$(median_of "idle|ringsocket" rss_per_conn_b)
        for server in "${SERVER_LIST[@]}"; do
            key="idle|$server"
            per=$(median_of "$key" rss_per_conn_b)
            echo "| ${LABEL[$server]} | $(num "$(median_of "$key" fresh_kib)") |" \
                "$(num "$(median_of "$key" rss_after_kib)") | $(num "$per") | $(ratio "$per" "$base") |"
        done
    elif [[ $setting == tls ]]; then
        echo "### TLS on RingSocket: echo over wss:// and ws://, 100 connections"
        echo
        if [[ -n ${SKIPPED[tls]:-} ]]; then
            echo "${SKIPPED[tls]}"
            continue
        fi
        echo "| transport | rate/s | min–max | p50 µs | p99 µs | server CPU % (usr/sys) | rs-load CPU % | wss ÷ ws |"
        echo "|---|--:|--:|--:|--:|--:|--:|--:|"
        for run in "${TLS_RUNS[@]}"; do
            IFS='|' read -r key label scheme size <<<"$run"
            rate=$(median_of "tls|$key" rate)
            fraction=
            [[ $scheme == wss ]] && fraction=$(ratio "$rate" "$(median_of "tls|ws$size" rate)")
            echo "| $label$(busy_mark "tls|$key") | $(num "$rate") | $(range "tls|$key")" \
                "| $(lat "tls|$key" p50_us) | $(lat "tls|$key" p99_us)" \
                "| $(cpu "tls|$key") | $(num "$(median_of "tls|$key" client_cpu)") | $fraction |"
        done
    fi
done
