#!/usr/bin/env bash
# tests/bench/bench_peers.sh — awqkit quantize vs AutoAWQ 0.2.9 vs llm-compressor
# on the same CPU, the same calibration token ids and the same thread count.
# Not part of CI: it creates two Python venvs from PyPI (several GB).
#
#   bash tests/bench/bench_peers.sh            # both models, full calibration
#   PEER_MODELS=tiny TINY_DOCS=4 bash tests/bench/bench_peers.sh   # quick check
#
# Environment (defaults in brackets):
#   AWQ_PEERS_DIR   venvs, models and outputs   [$HOME/.cache/awqkit-peers]
#   AWQ_BUILD       awqkit build directory      [<repo>/build]
#   PYTHON          interpreter for the venvs (3.9-3.12, torch 2.6) [python3]
#   PEER_MODELS     tiny, qwen or both          [tiny qwen]
#   PEER_TOOLS      subset of: awqkit autoawq llmcompressor [all three]
#   THREADS         threads for every tool      [2]
#   TINY_DOCS       calibration documents, data/tiny-llama [128]
#   QWEN_DOCS       calibration documents, Qwen2-0.5B-shaped stack [32]
#   SEQLEN          block length in tokens      [512]
#   PEER_RUNS       runs of every tool, in turn (awqkit, peer, awqkit,
#                   peer, ...): medians, and the median of each round's
#                   ratio to awqkit (pairing keeps it fair when the
#                   machine's speed drifts)   [1]
#   PPL_CHUNKS_TINY / PPL_CHUNKS_QWEN  perplexity windows of SEQLEN tokens
#                   [all / 16]
#   PEER_DTYPE      compute dtype of the Python tools: float16, bfloat16,
#                   float32 [bfloat16: the reduced-precision type CPUs have
#                   matrix instructions for (AVX512-BF16, AMX); torch's fp16
#                   matmul on a CPU without AVX512-FP16/AMX-FP16 is slower]
#   AUTOAWQ_SPEC / LLMC_SPEC  pip requirements of each venv
#
# Calibration: `awqkit tokenize --calib <bundled WikiText-2 valid> --samples N
# --seqlen SEQLEN --save ids` writes the blocks (AutoAWQ's recipe); awqkit
# reads them with --calib-tokens and the wrappers in tests/bench/peers/ feed
# the same ids to AutoAWQ (calib_data = the blocks) and llm-compressor (a
# DataLoader over the blocks), each checking it calibrated on all of them.
# The wrappers also carry the two CPU fixes those tools need (see their
# docstrings). Each tool runs with its own default AWQ recipe (4 bits, group
# 128, zero point), the Python tools in PEER_DTYPE.
#
# Timing: /usr/bin/time (wall, user+sys CPU seconds, peak RSS), PEER_RUNS
# rounds of one run per tool, one tool after another. Perplexity of every output (and of the FP16
# model) is `awqkit ppl --seqlen SEQLEN` on data/text/wiki.test.raw, so the
# three outputs are scored by one implementation, on the same token ids
# (the source model's tokenizer, see ppl()).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${AWQ_BUILD:-$root/build}
awqkit=$build/awqkit
dir=${AWQ_PEERS_DIR:-$HOME/.cache/awqkit-peers}
python=${PYTHON:-python3}
models=${PEER_MODELS:-tiny qwen}
runs=${PEER_RUNS:-1}
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "bench_peers: PEER_RUNS=$runs: expected 1..99" >&2; exit 2; }
tools=${PEER_TOOLS:-awqkit autoawq llmcompressor}
threads=${THREADS:-2}
dtype=${PEER_DTYPE:-bfloat16}
seqlen=${SEQLEN:-512}
autoawq_spec=${AUTOAWQ_SPEC:-autoawq==0.2.9 torch==2.6.0 transformers==4.51.3}
llmc_spec=${LLMC_SPEC:-llmcompressor==0.14.0.1}
peers=$root/tests/bench/peers
calib=$root/data/text/calib-wikitext2-valid.jsonl.zst
evaltext=$root/data/text/wiki.test.raw

[ -x "$awqkit" ] || { echo "bench_peers: build awqkit first (cmake --build $build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_peers: needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
mkdir -p "$dir"

# venv NAME SPEC...: create once; a stamp holding the spec marks it complete.
venv() {
    local name=$1; shift
    local v=$dir/$name
    if [ "$(cat "$v/.awqkit-spec" 2>/dev/null)" != "$*" ]; then
        echo "bench_peers: creating $v ($*)" >&2
        rm -rf "$v"
        "$python" -m venv "$v"
        "$v/bin/pip" install -q --upgrade pip >&2
        # shellcheck disable=SC2086
        "$v/bin/pip" install -q $* >&2
        echo "$*" > "$v/.awqkit-spec"
    fi
}
case " $tools " in *" autoawq "*) venv venv-autoawq "$autoawq_spec" ;; esac
case " $tools " in *" llmcompressor "*) venv venv-llmc "$llmc_spec" ;; esac

export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
export TQDM_DISABLE=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export CUDA_VISIBLE_DEVICES=""

# timed LOG CMD...: run CMD under /usr/bin/time; prints "wall cpu rss_mib".
timed() {
    local log=$1; shift
    local tf
    tf=$(mktemp)
    if ! /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" > "$log" 2>&1; then
        echo "bench_peers: failed: $* (log: $log)" >&2
        tail -20 "$log" >&2
        rm -f "$tf"
        return 1
    fi
    awk '{ printf "%.1f %.1f %.1f\n", $1, $2 + $3, $4 / 1024 }' "$tf"
    rm -f "$tf"
}

median() { # numbers on stdin, one per line -> their median
    sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2];
                                        else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

ppl() { # MODEL CHUNKS [SOURCE] -> perplexity
    # `awqkit ppl` tokenizes with the checkpoint's own tokenizer.json; the
    # Python tools write theirs back through transformers, which tokenizes
    # the text differently (llm-compressor's Qwen-stack output: 4667549
    # with its own file, 4867655 with the source's), so every output is
    # scored through a view of it with SOURCE's tokenizer files: the same
    # token ids for all
    local args=(--text "$evaltext" --seqlen "$seqlen" --threads "$threads" --json)
    [ "$2" = all ] || args+=(--max-chunks "$2")
    local dir=$1
    if [ -n "${3:-}" ]; then
        dir=$(mktemp -d)
        local f
        for f in "$1"/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$dir/"; done
        rm -f "$dir/tokenizer.json" "$dir/tokenizer_config.json"
        cp "$3/tokenizer.json" "$dir/"
        [ -f "$3/tokenizer_config.json" ] && cp "$3/tokenizer_config.json" "$dir/"
    fi
    "$awqkit" ppl "$dir" "${args[@]}" 2>/dev/null |
        "$python" -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ppl"])'
    [ "$dir" = "$1" ] || rm -rf "$dir"
}

bench_model() { # KEY MODEL_DIR DOCS PPL_CHUNKS LABEL
    local key=$1 model=$2 docs=$3 chunks=$4 label=$5
    local w=$dir/run-$key
    rm -rf "$w"; mkdir -p "$w"
    "$awqkit" tokenize "$model" --calib "$calib" --samples "$docs" --seqlen "$seqlen" \
        --save "$w/calib.ids" > "$w/tokenize.log"
    local blocks
    blocks=$(grep -c . "$w/calib.ids")
    echo
    echo "== $label: $docs documents -> $blocks blocks x $seqlen tokens, $threads threads, Python tools in $dtype"
    local fp
    fp=$(ppl "$model" "$chunks")
    local -A wall cpu rss pp walls cpus rsss
    local round
    for ((round = 1; round <= runs; round++)); do
        for t in $tools; do
            local out=$w/out-$t r rw rc rs
            rm -rf "$out"
            case $t in
            awqkit) r=$(timed "$w/$t.log" "$awqkit" quantize "$model" -o "$out" --force \
                        --calib-tokens "$w/calib.ids" --seqlen "$seqlen" --threads "$threads" --no-progress) ;;
            autoawq) r=$(timed "$w/$t.log" "$dir/venv-autoawq/bin/python" "$peers/run_autoawq.py" \
                        "$model" "$out" --calib-ids "$w/calib.ids" --seqlen "$seqlen" --threads "$threads" --dtype "$dtype") ;;
            llmcompressor) r=$(timed "$w/$t.log" "$dir/venv-llmc/bin/python" "$peers/run_llmcompressor.py" \
                        "$model" "$out" --calib-ids "$w/calib.ids" --seqlen "$seqlen" --threads "$threads" --dtype "$dtype") ;;
            *) echo "bench_peers: unknown tool '$t' in PEER_TOOLS" >&2; exit 2 ;;
            esac
            read -r rw rc rs <<< "$r"
            walls[$t]+="$rw "; cpus[$t]+="$rc "; rsss[$t]+="$rs "
            if [ "$runs" -gt 1 ]; then echo "  round $round: $t wall $rw s, CPU $rc s, peak $rs MiB"; fi
        done
    done
    for t in $tools; do
        wall[$t]=$(tr ' ' '\n' <<< "${walls[$t]}" | grep . | median)
        cpu[$t]=$(tr ' ' '\n' <<< "${cpus[$t]}" | grep . | median)
        rss[$t]=$(tr ' ' '\n' <<< "${rsss[$t]}" | grep . | median)
        pp[$t]=$(ppl "$w/out-$t" "$chunks" "$model")
    done
    printf '%-15s %9s %9s %10s %12s %10s %10s\n' tool "wall s" "CPU s" "peak MiB" perplexity \
        "wall/awq" "CPU/awq"
    printf '%-15s %9s %9s %10s %12s\n' "fp16 model" - - - "$fp"
    for t in $tools; do
        local rw=- rc=-
        if [ -n "${wall[awqkit]:-}" ]; then
            # the median of the rounds' ratios (one round: the ratio)
            rw=$(paste -d' ' <(tr ' ' '\n' <<< "${walls[$t]}" | grep .) \
                     <(tr ' ' '\n' <<< "${walls[awqkit]}" | grep .) |
                 awk '{ printf "%.4f\n", $1 / $2 }' | median | xargs printf '%.2f')
            rc=$(paste -d' ' <(tr ' ' '\n' <<< "${cpus[$t]}" | grep .) \
                     <(tr ' ' '\n' <<< "${cpus[awqkit]}" | grep .) |
                 awk '{ printf "%.4f\n", $1 / $2 }' | median | xargs printf '%.2f')
        fi
        printf '%-15s %9s %9s %10s %12s %10s %10s\n' "$t" "${wall[$t]}" "${cpu[$t]}" "${rss[$t]}" \
            "${pp[$t]}" "$rw" "$rc"
    done
    echo "(perplexity: awqkit ppl --seqlen $seqlen on wiki.test.raw, windows: $chunks; logs in $w)"
}

echo "bench_peers: $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); awqkit $build"
for m in $models; do
    case $m in
    tiny) bench_model tiny "$root/data/tiny-llama" "${TINY_DOCS:-128}" "${PPL_CHUNKS_TINY:-all}" \
              "data/tiny-llama" ;;
    qwen)
        q=$dir/qwen2-0.5b-4layers
        if [ ! -f "$q/config.json" ]; then
            "$awqkit" synth -o "$q" --preset 0.5b --layers 4 --seed 1 --force > /dev/null
            # the bundled tokenizer (4096 ids < the 151936-entry vocabulary)
            cp "$root/data/tiny-llama/tokenizer.json" "$root/data/tiny-llama/tokenizer_config.json" "$q/"
        fi
        bench_model qwen "$q" "${QWEN_DOCS:-32}" "${PPL_CHUNKS_QWEN:-16}" \
            "Qwen2-0.5B-shaped synthetic stack, 4 layers (awqkit synth --preset 0.5b --layers 4)" ;;
    *) echo "bench_peers: unknown model '$m' in PEER_MODELS (tiny, qwen)" >&2; exit 2 ;;
    esac
done
