#!/usr/bin/env bash
# `cmake --install` into a scratch prefix, then the tree as a user sees it:
# the layout (program, libawqkit.so with its SONAME and only awq_* symbols,
# headers, awqkit.pc, awqkitConfig.cmake, data, man pages, completion); a
# consumer built with `pkg-config --cflags --libs awqkit` and one with
# find_package(awqkit); the installed program quantizing with the bundled
# calibration text, also after the prefix is moved (no absolute paths).
. "$AWQ_TESTS/e2e/lib.sh"
: "${AWQ_BUILD:?}" "${AWQ_CMAKE:?}" "${AWQ_CC:?}" "${AWQ_PKG_CONFIG:?}"
J=${AWQ_JSON:?}
M=$AWQ_DATA/tiny-llama
unset AWQKIT_CALIB AWQKIT_TEXT AWQKIT_DATA_DIR
P=$T/prefix
if ! "$AWQ_CMAKE" --install "$AWQ_BUILD" --prefix "$P" >"$T/install.log" 2>&1; then
    cat "$T/install.log" >&2
    exit 1
fi
pc=$(find "$P" -name awqkit.pc)
libdir=$(cd "$(dirname "$pc")/.." && pwd)
check "awqkit.pc installed" test -f "$pc"
check "program" test -x "$P/bin/awqkit"
check "header" test -f "$P/include/awqkit.h" -a -f "$P/include/awqkit/api.h"
check "static library" test -f "$libdir/libawqkit.a"
check "CMake package" test -f "$libdir/cmake/awqkit/awqkitConfig.cmake" \
    -a -f "$libdir/cmake/awqkit/awqkitConfigVersion.cmake" -a -f "$libdir/cmake/awqkit/awqkitTargets.cmake"
check "calibration text" test -f "$P/share/awqkit/text/calib-wikitext2-valid.jsonl.zst"
check "evaluation text" test -f "$P/share/awqkit/text/wiki.test.raw"
check "man page awqkit(1)" test -f "$P/share/man/man1/awqkit.1"
check "man page awqkit-quantize(1)" test -f "$P/share/man/man1/awqkit-quantize.1"
check "bash completion" test -f "$P/share/bash-completion/completions/awqkit"

so=$(readlink -f "$libdir/libawqkit.so")
soname=$(objdump -p "$so" | awk '$1 == "SONAME" {print $2}')
check "versioned SONAME ($soname)" test "$soname" = "libawqkit.so.0.1"
check "SONAME link" test -e "$libdir/$soname"
objdump -T "$so" | awk '$2 == "g" && $4 != "*UND*" {print $NF}' >"$T/exports"
check "exports the API" grep -qx awq_api_count "$T/exports"
check "exports only awq_* ($(grep -cv '^awq_' "$T/exports") others)" \
    test "$(grep -cv '^awq_' "$T/exports")" = 0

# no build- or source-tree path to the data compiled into the program
check "no source data path in the program" sh -c "! grep -qF '$AWQ_DATA/text' '$P/bin/awqkit'"

# 1) pkg-config
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$("$AWQ_PKG_CONFIG" --cflags --libs awqkit) || bad "pkg-config --cflags --libs awqkit"
check "pkg-config names the prefix" grep -qF -- "-I" <<<"$flags"
# shellcheck disable=SC2086
if "$AWQ_CC" -o "$T/consumer_pc" "$AWQ_TESTS/install/consumer.c" $flags \
        -Wl,-rpath,"$libdir" 2>"$T/cc.log"; then ok; else bad "pkg-config build"; cat "$T/cc.log" >&2; fi
expect_exit 0 "pkg-config consumer runs" "$T/consumer_pc" "$M" "$P/share/awqkit"
stdout_has "logical 6819072"
check "consumer uses the installed library" sh -c "ldd '$T/consumer_pc' | grep -qF '$libdir/libawqkit.so'"

# 2) find_package
if "$AWQ_CMAKE" -S "$AWQ_TESTS/install/consumer" -B "$T/cb" -DCMAKE_PREFIX_PATH="$P" \
        -DCMAKE_C_COMPILER="$AWQ_CC" >"$T/cb.log" 2>&1 &&
    "$AWQ_CMAKE" --build "$T/cb" >>"$T/cb.log" 2>&1; then ok; else
    bad "find_package build"; tail -20 "$T/cb.log" >&2; fi
expect_exit 0 "find_package consumer runs" "$T/cb/consumer" "$M" "$P/share/awqkit"
stdout_has "logical 6819072"
# a newer minor version is not compatible in 0.x
mkdir -p "$T/cv"
printf 'cmake_minimum_required(VERSION 3.21)\nproject(v LANGUAGES C)\nfind_package(awqkit 0.2 QUIET)\nif(awqkit_FOUND)\n message(FATAL_ERROR "0.2 accepted")\nendif()\n' >"$T/cv/CMakeLists.txt"
check "find_package(awqkit 0.2) refused" "$AWQ_CMAKE" -S "$T/cv" -B "$T/cv/b" -DCMAKE_PREFIX_PATH="$P"

# 3) the installed program: default calibration from PREFIX/share/awqkit
expect_exit 0 "installed quantize with the bundled calibration" \
    "$P/bin/awqkit" quantize "$M" -o "$T/q" --method rtn --samples 2 --seqlen 32 --json
check "quantized" test "$("$J" "$T/out" logical_parameters)" = 6819072
mv "$P" "$T/moved"
expect_exit 0 "moved prefix: quantize still finds its data" \
    "$T/moved/bin/awqkit" quantize "$M" -o "$T/q2" --method rtn --samples 2 --seqlen 32
expect_exit 0 "moved prefix: library finds its data" \
    env LD_LIBRARY_PATH="$T/moved/lib" "$T/consumer_pc" "$M" "$T/moved/share/awqkit"
mv "$T/moved" "$P"
finish
