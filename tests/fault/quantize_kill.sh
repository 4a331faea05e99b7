#!/usr/bin/env bash
# kill -9 at every phase of `awqkit quantize` (source scan, layer search,
# finished layer, assembly, verification, each step of publishing), then a
# plain --resume (no --force) gives the uninterrupted run's bytes exactly.
# Until the last rename of publishing the output must not pass verify.
. "$AWQ_TESTS/fault/quantize_lib.sh"

n=$(ls "$REF" | wc -l) # files published: the last one completes the checkpoint
phases=("source" "layer 1/3" "layer 2/3 done" "layer 3/3" "write" "verify" "publish@1"
        "publish@3" "publish@$n" "publish@$((n + 1))")
i=0
for phase in "${phases[@]}"; do
    i=$((i + 1))
    out=$T/k$i
    start_stopped "$out" "$phase" || continue
    kill -9 $pid
    wait $pid 2>/dev/null
    if [ "$phase" != "publish@$((n + 1))" ]; then
        check "kill -9 at $phase: output does not verify" does_not_verify "$out"
    fi
    expect_exit 0 "--resume after kill -9 at $phase" quantize "$out" --resume
    check "kill -9 at $phase, --resume: identical to an uninterrupted run" same_output "$REF" "$out"
done

# Killed before the first layer was durable: the corrected rerun (other
# options, no --resume, no --force) is not blocked by a stale fingerprint.
start_stopped "$T/early" "layer 1/3" && kill -9 $pid && wait $pid 2>/dev/null
expect_exit 0 "rerun with other options after an early kill" quantize "$T/early" --n-grid 3

# --dump-scales into OUT, killed once the dump is written (just before
# publishing): the dump is the run's own file, --resume accepts it.
start_stopped "$T/kd" "publish@1" --dump-scales "$T/kd/scales.json" && kill -9 $pid &&
    wait $pid 2>/dev/null
check "the dump was written before publishing" test -s "$T/kd/scales.json"
expect_exit 0 "--resume beside its own dump" quantize "$T/kd" --resume --dump-scales "$T/kd/scales.json"
for f in $(ls "$REF"); do check "dump run, resumed: $f identical" cmp -s "$REF/$f" "$T/kd/$f"; done

# --force over an older checkpoint, killed while publishing: the previous
# checkpoint's weights are already gone (no mix of old and new), and a
# plain --resume recognises the files of the interrupted publish as its own.
expect_exit 0 "an older checkpoint" quantize "$T/forced" --method rtn
start_stopped "$T/forced" "publish@3" --force && kill -9 $pid && wait $pid 2>/dev/null
check "interrupted publish over --force: no complete checkpoint" does_not_verify "$T/forced"
expect_exit 0 "--resume over an interrupted --force run" quantize "$T/forced" --resume
check "forced + killed + resumed: identical" same_output "$REF" "$T/forced"
finish
