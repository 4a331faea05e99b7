# tests/e2e/lib.sh — helpers for the CLI end-to-end scripts.
# Environment (set by ctest): AWQKIT (binary), AWQ_DATA (data/), AWQ_TESTS
# (tests/ source dir), AWQ_TEST_TMP (scratch dir for this test).
set -u
: "${AWQKIT:?AWQKIT not set}" "${AWQ_DATA:?}" "${AWQ_TEST_TMP:?}"
rm -rf "$AWQ_TEST_TMP" && mkdir -p "$AWQ_TEST_TMP"
T=$AWQ_TEST_TMP
_pass=0
_fail=0

ok() { _pass=$((_pass + 1)); }
bad() { _fail=$((_fail + 1)); echo "FAIL: $*" >&2; }
check() { # check "description" command...
    local d=$1; shift
    if "$@"; then ok; else bad "$d"; fi
}
# expect_exit CODE "description" command... ; stdout/stderr in $T/out, $T/err
expect_exit() {
    local want=$1 d=$2; shift 2
    local got=0
    "$@" >"$T/out" 2>"$T/err" || got=$?
    if [ "$got" = "$want" ]; then ok; else
        bad "$d: exit $got, want $want"; sed 's/^/  | /' "$T/err" | head -20 >&2; fi
}
# stderr_has "text": the last expect_exit's stderr contains text
stderr_has() { if grep -qF -- "$1" "$T/err"; then ok; else bad "stderr lacks '$1'"; sed 's/^/  | /' "$T/err" | head -5 >&2; fi; }
stdout_has() { if grep -qF -- "$1" "$T/out"; then ok; else bad "stdout lacks '$1'"; fi; }
finish() {
    echo "$_pass passed, $_fail failed"
    [ "$_fail" -eq 0 ]
}
