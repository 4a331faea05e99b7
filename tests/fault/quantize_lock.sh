#!/usr/bin/env bash
# One writer per output: while a run holds OUT, a second run into it is
# refused (with --force or --resume too), naming the holder's pid, host
# and command, and touches nothing; the first run's output is correct. A
# lock left by a killed run blocks nobody.
. "$AWQ_TESTS/fault/quantize_lib.sh"

start_stopped "$T/held" "layer 2/3" || { finish; exit 1; }
before=$(cd "$T/held" && find . -type f | sort | xargs md5sum)
for extra in "" "--force" "--resume"; do
    expect_exit 1 "second writer ${extra:-plain}" quantize "$T/held" $extra
    stderr_has "is locked by another awqkit quantize run"
    stderr_has "pid $pid"
    stderr_has "host $(hostname)"
    stderr_has "command $AWQKIT quantize"
done
after=$(cd "$T/held" && find . -type f | sort | xargs md5sum)
check "refused writers changed nothing" test "$before" = "$after"
kill -CONT $pid
rc=0
wait $pid || rc=$?
check "the holder completes (rc $rc)" test $rc = 0
check "the holder's output is correct" same_output "$REF" "$T/held"

# kill -9 leaves the lock file; the kernel released the lock with the
# process, so the next run takes it over.
start_stopped "$T/stale" "layer 2/3" && kill -9 $pid && wait $pid 2>/dev/null
check "a killed run leaves its lock file" test -e "$T/stale/.awqkit-lock"
expect_exit 0 "a stale lock file blocks nobody" quantize "$T/stale" --resume
check "after a stale lock: identical" same_output "$REF" "$T/stale"
finish
