# tests/bench/gpu_lib.sh — what the GPU benchmark scripts share (sourced by
# tests/bench/gpu_check.sh and tests/bench/bench_gpu.sh): calibration ids
# for synthetic checkpoints, sampling of GPU memory and host RSS while
# awqkit runs, and the estimate of the useful FLOPs of one layer's AWQ.

awq_gpu_now() { date +%s.%N; }
awq_gpu_since() { awk -v a="$1" -v b="$(awq_gpu_now)" 'BEGIN {printf "%.2f", b - a}'; }

# GPU 0's memory in use (MiB), empty without nvidia-smi.
awq_gpu_used_mib() {
  nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1
}

# awq_gpu_calib_ids AWQKIT TOKENIZER_DIR TEXT FILE BLOCKS SEQLEN
# Synthetic checkpoints have no tokenizer: their calibration is given as
# ids (`quantize --calib-tokens`), here real text (TEXT tokenized with
# TOKENIZER_DIR's tokenizer; data/tiny-llama's ids are below 4096, so valid
# in any synthetic vocabulary), exactly BLOCKS x SEQLEN of them.
# Fails when the text is too short.
awq_gpu_calib_ids() {
  local n=$(($5 * $6))
  "$1" tokenize "$2" --text "$3" 2>/dev/null | tr -s ' ' '\n' | grep . | head -n "$n" |
    tr '\n' ' ' >"$4"
  [ "$(wc -w <"$4")" -eq "$n" ]
}

# The awqkit process (awqkit, awqkit_cuda_emu) below PID (e.g. PID -> timeout
# -> awqkit), from /proc.
awq_gpu_awqkit_below() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
    { i = index($0, " ("); j = length($0); while (j > 0 && substr($0, j, 1) != ")") j--
      pid = substr($0, 1, i - 1); comm = substr($0, i + 2, j - i - 2)
      split(substr($0, j + 2), f, " "); parent[pid] = f[2]; name[pid] = comm }
    END { for (p in name) if (name[p] ~ /^awqkit/)
            for (q = parent[p]; q != "" && q > 1; q = parent[q]) if (q == root) { print p; exit } }'
}

# awq_gpu_poll PID FILE: every 0.5 s while PID lives, append
# "seconds gpu_mib rss_mib" to FILE: GPU 0's memory in use ("-" without
# nvidia-smi) and the resident set of the awqkit at or below PID.
awq_gpu_poll() {
  local pid=$1 out=$2 t0 g r apid=""
  local smi=0
  command -v nvidia-smi >/dev/null 2>&1 && smi=1
  t0=$(awq_gpu_now)
  : >"$out"
  while kill -0 "$pid" 2>/dev/null; do
    g=-
    [ $smi = 1 ] && g=$(awq_gpu_used_mib)
    if [ -z "$apid" ] || [ ! -d "/proc/$apid" ]; then
      apid=$(awq_gpu_awqkit_below "$pid")
      [ -z "$apid" ] && case "$(cat "/proc/$pid/comm" 2>/dev/null)" in awqkit*) apid=$pid ;; esac
    fi
    r=0
    [ -n "$apid" ] && r=$(awk '/^VmRSS:/ {print $2}' "/proc/$apid/status" 2>/dev/null)
    printf '%s %s %s\n' "$(awq_gpu_since "$t0")" "${g:--}" \
      "$(awk -v r="${r:-0}" 'BEGIN {printf "%.0f", r / 1024}')" >>"$out"
    sleep 0.5
  done
}

# Estimated useful FLOPs of one AWQ quantize of one decoder layer (Llama
# shapes), with n = calibration tokens, ng = scale candidates (20), ns =
# clip steps (10), ts = clip tokens (512):
#   forward passes of the layer: FP capture, RTN and quantized MSE reports,
#     propagation            ~ 4 x 2 n P_layer
#   scale search: per group (ng + 2) block evaluations (candidates, RTN
#     baseline, FP reference): attention block 2 n P_attn, o 2 n h qd,
#     MLP 2 n P_mlp, down 2 n h i
#   attention score/value products (causal): 2 x 2 B T^2 H hd / 2 per
#     attention evaluation
#   clip search over v, o, gate, up, down: 2 N K ts ns each
# awq_gpu_flops_per_layer h i heads kvheads hd n T ng ns ts
awq_gpu_flops_per_layer() {
  awk -v h="$1" -v i="$2" -v H="$3" -v KV="$4" -v hd="$5" -v n="$6" -v T="$7" \
      -v ng="$8" -v ns="$9" -v ts="${10}" 'BEGIN {
    qd = H * hd; kvd = KV * hd; B = n / T;
    pattn = h * qd + 2 * h * kvd + qd * h; pmlp = 3 * h * i; player = pattn + pmlp;
    attn = 2 * B * T * T * H * hd;
    fwd = 4 * (2 * n * player + attn);
    search = (ng + 2) * (2 * n * pattn + attn + 2 * n * qd * h + 2 * n * pmlp + 2 * n * h * i);
    clip = 2 * ns * ts * (kvd * h + h * qd + 2 * i * h + h * i);
    printf "%.6e\n", fwd + search + clip }'
}
