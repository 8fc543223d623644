#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, then stops.
#   fuzz/run.sh [SECONDS] [TARGET...]
# cargo-fuzz needs nightly features; on a stable toolchain RUSTC_BOOTSTRAP=1
# unlocks them. Crashes land in fuzz/artifacts/<target>/ and make this fail.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decode_chunks encode_decode http_request config)
fi
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== fuzzing $target for ${seconds}s"
    # The committed seeds stay read-only; new inputs go to a scratch corpus.
    scratch="$(mktemp -d)"
    cargo fuzz run "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1
    rm -rf "$scratch"
done
