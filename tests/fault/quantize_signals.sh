#!/usr/bin/env bash
# SIGINT and SIGTERM at several points of `awqkit quantize`: the run stops
# at its next safe point, removes its temporaries (writer temp files, the
# staging copy of the checkpoint, the lock), dies of the signal, leaves an
# output that does not verify, and --resume completes it byte for byte.
# During the last step (publishing, milliseconds) it finishes instead.
. "$AWQ_TESTS/fault/quantize_lib.sh"

for sig in INT TERM; do
    code=$((128 + $(kill -l $sig)))
    for phase in "source" "layer 2/3" "layer 3/3 done" "write" "verify"; do
        out=$T/$sig-${phase// /_}
        start_stopped "$out" "$phase" || continue
        kill -$sig $pid
        kill -CONT $pid
        rc=0
        wait $pid || rc=$?
        check "SIG$sig at $phase: died of the signal (rc $rc)" test $rc = $code
        check "SIG$sig at $phase: says how to continue" grep -q -- "--resume" "$T/bg.err"
        if [ "$phase" = source ]; then
            check "SIG$sig before any layer: the output it created is gone" test ! -e "$out"
        else
            check "SIG$sig at $phase: no temporaries left" no_temporaries "$out"
            check "SIG$sig at $phase: output does not verify" does_not_verify "$out"
        fi
        expect_exit 0 "SIG$sig at $phase: --resume" quantize "$out" --resume
        check "SIG$sig at $phase, --resume: identical" same_output "$REF" "$out"
    done
done

# Publishing is not interrupted half-way: the run completes (exit 0).
start_stopped "$T/pub" "publish@2" && kill -TERM $pid && kill -CONT $pid
rc=0
wait $pid || rc=$?
check "SIGTERM while publishing: the run completes (rc $rc)" test $rc = 0
check "SIGTERM while publishing: identical" same_output "$REF" "$T/pub"
finish
