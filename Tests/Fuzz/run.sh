#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer package (address sanitizer, leak detection) and runs every target for
# FUZZ_SECONDS (default 60) from its seeds with its dictionary. A crash, a leak, an out-of-memory or a timeout fails
# the run. A crash's or a leak's input is minimised into Tests/Fuzz/Regressions/<target>/, which `make test` replays
# from then on; a hang's or an out-of-memory's is kept in Tests/Fuzz/.build/hangs/<target>/ and tried again by every
# later run until it passes.
#   FUZZ_SECONDS=600 FUZZ_TARGETS="jws dn" FUZZ_JOBS=2 Tests/Fuzz/run.sh
#   FUZZ_REPORT_ONLY=1 Tests/Fuzz/run.sh           the table of the last run again, from its logs
#   FUZZ_BUILD_DIR=DIR                              build and work in DIR instead of Tests/Fuzz/.build
# Prints one table (docs/robustness.md) and writes it to Tests/Fuzz/.build/fuzz-report.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
swift=${SWIFT:-swift}
build=${FUZZ_BUILD_DIR:-$here/.build}
fuzzer=$build/release/fapid-fuzz
targets=${FUZZ_TARGETS:-}

# Two -sanitize flags to swiftc keep only the last, so the pair is also passed as one (coverage and ASan together).
[ "${FUZZ_SKIP_BUILD:-0}" = 1 ] || [ "${FUZZ_REPORT_ONLY:-0}" = 1 ] || "$swift" build --package-path "$here" --scratch-path "$build" -c release \
    --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
[ -n "$targets" ] || targets=$(ASAN_OPTIONS=detect_leaks=0 "$fuzzer" --list-targets)

run_target() {
    local target=$1 work=$build/corpus/$1 findings=$build/findings/$1 log=$build/logs/$1.log regressions=$here/Regressions/$1
    local hangs=$build/hangs/$1
    mkdir -p "$work" "$findings" "$build/logs" "$regressions" "$hangs"
    rm -f "$findings"/* "$build/logs/$target.status"
    # The target goes in the environment: libFuzzer runs itself again to minimise, without our arguments.
    # ASan: leaks are findings; libFuzzer: one input over 10 s is a hang, over 2 GB an unbounded allocation.
    # Past findings are seeds too, so every run checks them again under the sanitizer.
    FAPID_FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$fuzzer" "$work" "$here/Corpus/$target" "$regressions" "$hangs" \
        -dict="$here/Dictionaries/$target.dict" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$findings/" > "$log" 2>&1 && status=0 || status=$?
    if [ "$status" != 0 ]; then
        for artifact in "$findings"/*; do
            [ -e "$artifact" ] || continue
            local name
            name=$(basename "$artifact")
            if [ ! -s "$artifact" ]; then
                # No input to keep: a leak found by LeakSanitizer's check at exit, or a crash outside any input. For a
                # leak, replaying the corpus with full stacks names the code: see docs/robustness.md.
                echo "$target: a finding with no input (a leak at exit, or a crash outside an input; log: $log)" >&2
                continue
            fi
            if [[ $name == crash-* || $name == leak-* ]]; then
                FAPID_FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=1 "$fuzzer" -minimize_crash=1 -max_total_time=60 \
                    -exact_artifact_path="$regressions/$name" "$artifact" >> "$log" 2>&1 || true
                [ -e "$regressions/$name" ] || cp "$artifact" "$regressions/$name"
                echo "$target: finding kept as Tests/Fuzz/Regressions/$target/$name (log: $log)" >&2
            else
                # A hang or an unbounded allocation is not replayed by `make test` (no time limit there); it is kept
                # where every later `make fuzz` tries it again, until it is fixed.
                cp "$artifact" "$hangs/$name"
                echo "$target: $name (a hang or out of memory) kept in $hangs (log: $log)" >&2
            fi
        done
    fi
    echo "$status" > "$build/logs/$target.status"
}
export -f run_target
export build fuzzer here seconds

# FUZZ_REPORT_ONLY=1 prints the table of the last run from its logs.
if [ "${FUZZ_REPORT_ONLY:-0}" != 1 ]; then
    echo "fuzzing $(echo $targets | wc -w) targets for ${seconds}s each, $jobs at a time"
    printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run_target {}'
fi

report=$build/fuzz-report.md
{
    echo "| target | seconds | executions | exec/s | coverage (edges) | features | corpus | peak RSS | result |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for target in $targets; do
        log=$build/logs/$target.log
        status=$(cat "$build/logs/$target.status" 2>/dev/null || echo none)
        stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
        line=$(grep -E '^#[0-9]+.*(cov|DONE)' "$log" | tail -1 || true)
        cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$line")
        ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$line")
        corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$line")
        if [ "$status" = 0 ]; then result="clean"; else result="FAILED (Tests/Fuzz/.build/logs/$target.log)"; fi
        echo "| $target | $(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1) | $(stat number_of_executed_units) | $(stat average_exec_per_sec) | ${cov:-?} | ${ft:-?} | ${corp:-?} | $(stat peak_rss_mb) MB | $result |"
    done
} > "$report"
cat "$report"
# The table is written first, then judged: a target whose run did not end clean (or left no status) fails `make fuzz`.
for target in $targets; do
    [ "$(cat "$build/logs/$target.status" 2>/dev/null)" = 0 ] || exit 1
done
