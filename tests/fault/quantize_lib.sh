# tests/fault/quantize_lib.sh — shared setup of the quantize fault tests:
# a small synthetic model, calibration ids, the options of every run, and
# a way to stop a run at an exact point (AWQKIT_FAULT_STOP_AT, tools/cli.c).
. "$AWQ_TESTS/e2e/lib.sh"
POKE=${AWQ_POKE:?AWQ_POKE not set}
M=$T/model
# 3 layers, sharded source; output sharded too (7 files to publish).
"$AWQKIT" synth -o "$M" --layers 3 --hidden 128 --intermediate 256 --heads 4 --kv-heads 2 \
    --vocab 512 --seed 3 --max-shard-size 200KB >/dev/null || { echo "synth failed"; exit 1; }
for i in $(seq 1 256); do printf '%d ' $(( (i * 37) % 512 )); done > "$T/ids.txt"
Q=(--calib-tokens "$T/ids.txt" --seqlen 32 --n-grid 4 --group-size 64 --threads 1
   --max-shard-size 100KB --no-progress)
# AWQ_FAULT_DEVICE=cuda: every run on that device (the *_device variants run
# the CLI built on the CUDA emulation: its layers are written by the
# background saver, lib/quant/layer_saver.c)
[ -n "${AWQ_FAULT_DEVICE:-}" ] && Q+=(--device "$AWQ_FAULT_DEVICE")

# quantize OUT [args...]: a run with the common options
quantize() { local out=$1; shift; "$AWQKIT" quantize "$M" -o "$out" "${Q[@]}" "$@"; }

# wait_stopped PID: until the process is stopped (0) or gone (1)
wait_stopped() {
    local st
    # 20 s; AWQ_FAULT_WAIT_TICKS for the slow CUDA-emulation CLI
    for _ in $(seq 1 "${AWQ_FAULT_WAIT_TICKS:-800}"); do
        st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
        [ "$st" = T ] && return 0
        sleep 0.025
    done
    return 1
}

# start_stopped OUT PHASE [args...]: a run in the background, stopped at
# the first progress report of PHASE ("layer 2/3", "publish@3", ...); $pid.
start_stopped() {
    local out=$1 phase=$2; shift 2
    AWQKIT_FAULT_STOP_AT="$phase" "$AWQKIT" quantize "$M" -o "$out" "${Q[@]}" "$@" \
        >"$T/bg.out" 2>"$T/bg.err" &
    pid=$!
    if ! wait_stopped $pid; then
        bad "run into $out never reached phase '$phase'"
        sed 's/^/  | /' "$T/bg.err" | head -5 >&2
        return 1
    fi
}

# same_output A B: the same file names (hidden ones included) and bytes
same_output() {
    [ "$(ls -A "$1")" = "$(ls -A "$2")" ] || { echo "files differ: $(ls -A "$1" | tr '\n' ' ') vs $(ls -A "$2" | tr '\n' ' ')" >&2; return 1; }
    local f
    for f in $(ls -A "$1"); do cmp -s "$1/$f" "$2/$f" || { echo "$f differs" >&2; return 1; }; done
}

# no_temporaries OUT: no writer temporaries, no staging copy, no lock left
no_temporaries() {
    [ -z "$(find "$1" -name '*.tmp.*' 2>/dev/null)" ] &&
        [ ! -e "$1/.awqkit-partial/final" ] && [ ! -e "$1/.awqkit-lock" ]
}

# does_not_verify OUT: awqkit verify refuses it
does_not_verify() { ! "$AWQKIT" verify "$1" >/dev/null 2>&1; }

REF=$T/ref
quantize "$REF" >/dev/null 2>"$T/ref.err" || { cat "$T/ref.err"; echo "reference run failed"; exit 1; }
