#!/usr/bin/env bash
# The resume fingerprint covers every byte of the source: a weight changed
# in the middle of a tensor (far from its first and last 256 bytes) after
# an interrupted run makes --resume refuse; restored, --resume completes
# with identical bytes. Changed options are refused too.
. "$AWQ_TESTS/fault/quantize_lib.sh"

expect_exit 1 "a run stopped after one layer" quantize "$T/fp" --stop-after-layers 1
old=$("$POKE" set "$M" model.embed_tokens.weight 30000 3c00)
expect_exit 1 "--resume after the source changed in the middle" quantize "$T/fp" --resume
stderr_has "saved progress belongs to another model"
"$POKE" set "$M" model.embed_tokens.weight 30000 "$old" >/dev/null
expect_exit 1 "--resume with other options" quantize "$T/fp" --resume --n-grid 3
stderr_has "saved progress belongs to another model"
expect_exit 1 "--resume with another --screen" quantize "$T/fp" --resume --screen 0.5
stderr_has "saved progress belongs to another model"
expect_exit 0 "--resume with the original source" quantize "$T/fp" --resume
check "resumed: identical" same_output "$REF" "$T/fp"
finish
