#!/usr/bin/env bash
# User-space instructions per echoed message in the server, counted by
# callgrind (time means nothing under valgrind; instruction counts are
# stable from run to run).
#
#   bench/callgrind.sh              # 20 B, 512 B and 16 KiB
#   bench/callgrind.sh 20           # one size
#   COUNT=20000 bench/callgrind.sh  # fewer messages, quicker
#   RUNS=5 bench/callgrind.sh 20    # five counts: the median and the range
#
# For each size the server runs under callgrind while rs-load sends exactly
# COUNT (100000) messages over CONNS (10) connections in a closed loop and
# checks every echo; the server is then stopped (its profile is written at
# exit). An idle run that only opens and closes the connections is counted
# the same way and subtracted: (Ir(load) - Ir(idle)) / COUNT.
#
# glibc is told not to use `rep stos`/`rep movs` for memset/memcpy, since
# callgrind counts a repeated instruction once whatever its length.
# A count moves by up to about ±20 at 20 B from run to run: valgrind
# runs one thread at a time, and how it interleaves the worker and the app
# thread decides how many messages each wake-up and each poll serve. With
# RUNS > 1 every size is counted that many times (against one idle run) and
# the median is reported with the range.
# Profiles (of the last run of each size) are kept in PROFILE_DIR (default $CARGO_TARGET_DIR/callgrind) for
# callgrind_annotate.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

COUNT=${COUNT:-100000}
CONNS=${CONNS:-10}
RUNS=${RUNS:-1}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a whole number of at least 1, not \"$RUNS\""
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(20 512 16384)
PROFILE_DIR=${PROFILE_DIR:-$CARGO_TARGET_DIR/callgrind}
export GLIBC_TUNABLES=glibc.cpu.x86_rep_stosb_threshold=1099511627776:glibc.cpu.x86_rep_movsb_threshold=1099511627776

command -v valgrind >/dev/null || die "valgrind is not installed"
build
mkdir -p "$PROFILE_DIR"
PORT=$(free_port)
write_config "$PORT" 1024

# count_run NAME RS-LOAD-ARGS...: the server's total Ir over one rs-load run,
# in IR. (Not in a command substitution: the server must be stopped by this
# shell's trap if anything fails.)
count_run() {
    local name=$1 out ir
    shift
    # Started as root, the server switches to its "user" before callgrind
    # writes the profile at exit: the file must exist already and be
    # writable by anyone, in a folder without the sticky bit (where
    # fs.protected_regular would refuse the open).
    local dir=$WORK/callgrind file
    mkdir -p "$dir"
    chmod 777 "$dir"
    file=$dir/$name.out
    : >"$file"
    chmod 666 "$file"
    START_WAIT=120 start_server "$PORT" valgrind --tool=callgrind --vgdb=no \
        --callgrind-out-file="$file"
    out=$(taskset -c "$CLIENT_CPU" "$BIN/rs-load" "$@" --url "ws://127.0.0.1:$PORT/echo" \
        --duration 3600) || die "rs-load failed under callgrind ($name)"
    STOP_WAIT=300 stop_server
    [[ -s $file ]] || die "callgrind wrote no profile for $name (server log: $WORK/server.log)"
    cp "$file" "$PROFILE_DIR/$name.callgrind.out"
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
    [[ -n $ir ]] || die "no instruction total in $file"
    log "  $name: $ir instructions ($(field "$(grep '^RESULT ' <<<"$out")" total) messages)"
    IR=$ir
}

log "idle run: $CONNS connections, no messages"
count_run idle echo --conns "$CONNS" --count 0
IDLE=$IR
declare -A PER RANGE
for size in "${SIZES[@]}"; do
    counts=()
    for run in $(seq 1 "$RUNS"); do
        log "echo $CONNS x $size B, $COUNT messages (run $run of $RUNS)"
        count_run "echo-$size" echo --conns "$CONNS" --size "$size" --count "$COUNT"
        counts+=("$(awk -v a="$IR" -v b="$IDLE" -v n="$COUNT" 'BEGIN { printf "%.0f", (a - b) / n }')")
    done
    PER[$size]=$(printf '%s\n' "${counts[@]}" | median)
    mapfile -t counts < <(printf '%s\n' "${counts[@]}" | sort -n)
    RANGE[$size]="${counts[0]}-${counts[$((RUNS - 1))]}"
done

echo
echo "server user-space instructions per echoed message (callgrind, $CONNS conns, $COUNT messages, minus an idle run of $IDLE)"
for size in "${SIZES[@]}"; do
    if ((RUNS > 1)); then
        printf '  %6s B: %8s  (median of %s runs, %s)\n' "$size" "${PER[$size]}" "$RUNS" "${RANGE[$size]}"
    else
        printf '  %6s B: %8s\n' "$size" "${PER[$size]}"
    fi
done
echo "profiles: $PROFILE_DIR (callgrind_annotate --inclusive=yes FILE)"
