#!/usr/bin/env bash
# RingSocket under rs-load: echo, broadcast, connect and idle memory.
#
#   bench/echo.sh                 # build, run every setting ROUNDS times, print a table
#   ROUNDS=5 DURATION=10 bench/echo.sh
#
# The server (one worker, the echo and broadcast example apps, on a free
# loopback port) is pinned to CPU $SERVER_CPU and rs-load to CPU
# $CLIENT_CPU. The settings are run in interleaved rounds, each after a
# quiet-machine check; the table shows medians (and min-max of the rate).
# A second pass runs each echo setting once more under
# `perf stat -e raw_syscalls:sys_enter` for the server's system calls per
# message. Idle memory is measured on a freshly started server.
#
# Environment: ROUNDS (3), DURATION seconds per run (5), IDLE_CONNS (10000),
# BROADCAST_1000=1 to add broadcast with 1000 clients (slow: 10^6
# deliveries per round), SKIP_BUILD=1, SERVER_CPU (0), CLIENT_CPU (1),
# QUIET_MAX (15, busy % of all CPUs), CARGO_TARGET_DIR.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
IDLE_CONNS=${IDLE_CONNS:-10000}

build
PORT=$(free_port)
write_config "$PORT" $((IDLE_CONNS + 1024))
URL=ws://127.0.0.1:$PORT

# name|rs-load arguments
SETTINGS=(
    "echo 100x20B|echo --url $URL/echo --conns 100 --size 20"
    "echo 1000x512B|echo --url $URL/echo --conns 1000 --size 512"
    "echo 100x16KiB|echo --url $URL/echo --conns 100 --size 16384"
    "broadcast 100|broadcast --url $URL/broadcast --conns 100 --size 20"
)
[[ ${BROADCAST_1000:-0} == 1 ]] &&
    SETTINGS+=("broadcast 1000|broadcast --url $URL/broadcast --conns 1000 --size 20")
SETTINGS+=("connect 100|connect --url $URL/echo --conns 100")

start_server "$PORT"
log "server pid $SERVER_PID on port $PORT (CPU $SERVER_CPU), rs-load on CPU $CLIENT_CPU"
for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS"
    for setting in "${SETTINGS[@]}"; do
        # shellcheck disable=SC2086 # the arguments are a list of words
        run_load "${setting%%|*}" ${setting#*|} --duration "$DURATION"
    done
done

# System calls per echoed message, counted in the server.
declare -A SYSCALLS
if perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
    log "system calls (perf stat on the server)"
    for setting in "${SETTINGS[@]}"; do
        name=${setting%%|*}
        [[ $name == echo* ]] || continue
        perf stat -e raw_syscalls:sys_enter -x, -o "$WORK/perf.txt" -p "$SERVER_PID" &
        perf_pid=$!
        sleep 0.5
        # shellcheck disable=SC2086 # the arguments are a list of words
        out=$(taskset -c "$CLIENT_CPU" "$BIN/rs-load" ${setting#*|} --duration "$DURATION" \
            --server-pid "$SERVER_PID") || die "rs-load failed in the syscall pass of \"$name\""
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
        calls=$(awk -F, '/raw_syscalls:sys_enter/ { print $1 }' "$WORK/perf.txt")
        total=$(field "$(grep '^RESULT ' <<<"$out")" total)
        SYSCALLS[$name]=$(awk -v c="$calls" -v t="$total" 'BEGIN { if (t > 0) printf "%.2f", c / t; else print "-" }')
        log "  $name: ${SYSCALLS[$name]} per message"
    done
else
    log "perf stat cannot count raw_syscalls:sys_enter here: no system call column"
fi

# Idle memory on a fresh server.
stop_server
IDLE_LINE=
if fd_limit_allows "$IDLE_CONNS"; then
    start_server "$PORT"
    idle_run idle "$URL/echo" "$IDLE_CONNS"
    fresh_kib=$FRESH_KIB
    stop_server
fi

# The table.
echo
echo "RingSocket $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), worker_c 1," \
    "server on CPU $SERVER_CPU, rs-load on CPU $CLIENT_CPU, $ROUNDS x ${DURATION}s per setting, medians"
printf '%-16s %12s %-21s %9s %9s %9s %12s %10s %8s %7s\n' \
    setting "rate/s" "(min-max)" "p50 us" "p99 us" "p99.9 us" "server cpu%" "(usr/sys)" "client%" "sys/msg"
for setting in "${SETTINGS[@]}"; do
    name=${setting%%|*}
    printf '%-16s %12.0f %-21s %9s %9s %9s %12s %10s %8s %7s%s\n' \
        "$name" "$(median_of "$name" rate)" "($(rate_range "$name"))" \
        "$(median_of "$name" p50_us)" "$(median_of "$name" p99_us)" "$(median_of "$name" p999_us)" \
        "$(median_of "$name" server_cpu)" \
        "$(median_of "$name" server_user)/$(median_of "$name" server_sys)" \
        "$(median_of "$name" client_cpu)" "${SYSCALLS[$name]:--}" "$(busy_mark "$name")"
done
echo "rate: messages/s (echo), deliveries/s (broadcast), handshakes/s (connect);" \
    "latency: round trip (echo), round (broadcast), handshake (connect)"
if [[ -n $IDLE_LINE ]]; then
    echo "idle: fresh server VmRSS $fresh_kib KiB; with $IDLE_CONNS connections $(field "$IDLE_LINE" rss_after_kib) KiB:" \
        "$(field "$IDLE_LINE" rss_per_conn_b) B per connection"
fi
