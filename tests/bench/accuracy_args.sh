# tests/bench/accuracy_args.sh — sourced by the accuracy comparisons
# (screen_accuracy.sh, precision_accuracy.sh) for their common command line
#   SCRIPT MODEL [--ppl "PPL ARGS"] [QUANTIZE ARGS...]
# acc_args SCRIPT_PATH USAGE_LINES DEFAULT_OUT "$@" sets root, awqkit
# (AWQ_BUILD), out (OUT or DEFAULT_OUT, created), model, name, ppl_args
# [--seqlen 256] and the array qargs (the quantize arguments); without a
# MODEL it prints the script's usage (lines USAGE_LINES of it) and exits 2.
acc_args() {
    local script=$1 usage=$2 def_out=$3
    shift 3
    root=$(cd "$(dirname "$script")/../.." && pwd)
    awqkit=${AWQ_BUILD:-$root/build}/awqkit
    out=${OUT:-$def_out}
    [ $# -ge 1 ] || { sed -n "${usage}p" "$script"; exit 2; }
    model=$1
    shift
    ppl_args="--seqlen 256"
    if [ "${1:-}" = --ppl ]; then
        [ $# -ge 2 ] || { echo "$(basename "$script"): --ppl needs its arguments" >&2; exit 2; }
        ppl_args=$2
        shift 2
    fi
    qargs=("$@")
    [ -x "$awqkit" ] || {
        echo "$(basename "$script" .sh): no $awqkit (build first, or set AWQ_BUILD)" >&2
        exit 1
    }
    mkdir -p "$out"
    name=$(basename "$model")
}
