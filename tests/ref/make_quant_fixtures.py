#!/usr/bin/env python3
"""Generate tests/ref/quant/: a tiny Qwen2-style checkpoint in FP16 and in the
four packed formats, packed by an implementation independent of awqkit's C
code: the packing loops are transcribed from AutoAWQ
(awq/modules/linear/gemm.py and gemv.py, WQLinear_*.from_linear) and AutoGPTQ
(auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py, QuantLinear.pack), the
quantizer from AutoAWQ's pseudo_quantize_tensor with awqkit's documented
deviation (fp32 arithmetic, scale rounded to FP16 before zero and codes are
chosen). numpy only; run from anywhere:

    python3 tests/ref/make_quant_fixtures.py

Outputs (all small):
  fp16/                    config.json, model.safetensors, tokenizer/aux files
  awq-gemm/ awq-gemv/      AutoAWQ layouts, group 32, asymmetric
  gptq/ gptq-v2/           AutoGPTQ layout, v1 (zero - 1) and v2 (true zeros)
  gptq-sym-mislabelled/    symmetric GPTQ storing true zeros (8) but labelled
                           checkpoint_format "gptq" (v1)
  canonical.safetensors    per linear: <name>.q (U8 [N, K] codes), .zeros
                           (U8 [G, N]), .scales (F16 [G, N]) of the asymmetric
                           quantization, the reference for every unpacker
"""
import json
import os
import shutil

import numpy as np
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quant")
GROUP = 32
HIDDEN, INTER, HEADS, KV_HEADS, VOCAB = 64, 128, 4, 2, 32
HEAD_DIM = HIDDEN // HEADS

CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": HIDDEN,
    "intermediate_size": INTER,
    "num_hidden_layers": 1,
    "num_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS,
    "vocab_size": VOCAB,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "bos_token_id": 1,
    "eos_token_id": 2,
}

# name -> (out_features N, in_features K)
LINEARS = {
    "model.layers.0.self_attn.q_proj": (HIDDEN, HIDDEN),
    "model.layers.0.self_attn.k_proj": (KV_HEADS * HEAD_DIM, HIDDEN),
    "model.layers.0.self_attn.v_proj": (KV_HEADS * HEAD_DIM, HIDDEN),
    "model.layers.0.self_attn.o_proj": (HIDDEN, HIDDEN),
    "model.layers.0.mlp.gate_proj": (INTER, HIDDEN),
    "model.layers.0.mlp.up_proj": (INTER, HIDDEN),
    "model.layers.0.mlp.down_proj": (HIDDEN, INTER),
}
BIASED = {"q_proj", "k_proj", "v_proj"}


def fp16_model(rng):
    t = {"model.embed_tokens.weight": rng.standard_normal((VOCAB, HIDDEN)) * 0.5}
    for name, (n, k) in LINEARS.items():
        w = rng.standard_normal((n, k)) * (1.0 / np.sqrt(k))
        if name.endswith("down_proj"):
            w[:, 5] *= 8.0  # an outlier input channel
        t[name + ".weight"] = w
        if name.split(".")[-1] in BIASED:
            t[name + ".bias"] = rng.standard_normal(n) * 0.1
    t["model.layers.0.input_layernorm.weight"] = 1.0 + 0.1 * rng.standard_normal(HIDDEN)
    t["model.layers.0.post_attention_layernorm.weight"] = 1.0 + 0.1 * rng.standard_normal(HIDDEN)
    t["model.norm.weight"] = 1.0 + 0.1 * rng.standard_normal(HIDDEN)
    t["lm_head.weight"] = rng.standard_normal((VOCAB, HIDDEN)) * 0.2
    return {k: v.astype(np.float16) for k, v in t.items()}


def quantize(w16, sym):
    """W [N, K] -> codes q [N, K] (unsigned), zeros [G, N], scales f16 [G, N]."""
    w = w16.astype(np.float32)
    n, k = w.shape
    g = k // GROUP
    wg = w.reshape(n, g, GROUP)
    if not sym:
        mx = wg.max(axis=2)
        mn = wg.min(axis=2)
        rng_ = np.maximum(mx - mn, np.float32(1e-5))
        scale = (rng_ / np.float32(15)).astype(np.float16)
        s = scale.astype(np.float32)
        zero = np.clip(-np.rint(mn / s), 0, 15)
        q = np.clip(np.rint(wg / s[:, :, None]) + zero[:, :, None], 0, 15)
    else:
        amax = np.maximum(np.abs(wg).max(axis=2), np.float32(1e-5))
        scale = (amax / np.float32(7)).astype(np.float16)
        s = scale.astype(np.float32)
        zero = np.full((n, g), 8.0, dtype=np.float32)
        q = np.clip(np.rint(wg / s[:, :, None]), -8, 7) + 8
    q = q.reshape(n, k).astype(np.uint8)
    return q, zero.T.astype(np.uint8).copy(), scale.T.copy()


def pack_awq_gemm(q, zeros):
    """AutoAWQ WQLinear_GEMM.from_linear packing loops."""
    intweight = q.astype(np.uint32).T.copy()  # [K, N]
    order_map = [0, 2, 4, 6, 1, 3, 5, 7]
    qweight = np.zeros((intweight.shape[0], intweight.shape[1] // 8), dtype=np.uint32)
    for col in range(intweight.shape[1] // 8):
        for i in range(8):
            qweight[:, col] |= intweight[:, col * 8 + order_map[i]] << (i * 4)
    z = zeros.astype(np.uint32)  # [G, N]
    qzeros = np.zeros((z.shape[0], z.shape[1] // 8), dtype=np.uint32)
    for col in range(z.shape[1] // 8):
        for i in range(8):
            qzeros[:, col] |= z[:, col * 8 + order_map[i]] << (i * 4)
    return qweight.view(np.int32), qzeros.view(np.int32)


def calculate_zeros_width(in_features, group_size=128, pack_num=8):
    if group_size >= 128:
        size_multiplier = 1
    elif group_size == 64:
        size_multiplier = 2
    elif group_size == 32:
        size_multiplier = 4
    else:
        raise NotImplementedError

    def make_divisible(c, divisor):
        return (c + divisor - 1) // divisor

    base_width = make_divisible(in_features // group_size, pack_num)
    return make_divisible(base_width, size_multiplier) * size_multiplier


def pack_awq_gemv(q, zeros, scales):
    """AutoAWQ WQLinear_GEMV.from_linear packing loops (zeros/scales [N, G])."""
    n, k = q.shape
    zw = calculate_zeros_width(k, GROUP)
    qscales = np.zeros((n, zw * 8), dtype=np.float16)
    qscales[:, : scales.shape[0]] = scales.T
    intweight = q.astype(np.uint32)
    qweight = np.zeros((n, k // 8), dtype=np.uint32)
    for col in range(k // 8):
        for i in range(8):
            qweight[:, col] |= intweight[:, col * 8 + i] << (i * 4)
    z = zeros.T.astype(np.uint32)  # [N, G]
    qzeros = np.zeros((n, zw), dtype=np.uint32)
    for col in range((z.shape[1] + 7) // 8):
        for i in range(8):
            if col * 8 + i >= z.shape[1]:
                continue
            qzeros[:, col] |= z[:, col * 8 + i] << (i * 4)
    return qweight.view(np.int32), qzeros.view(np.int32), qscales


def pack_gptq(q, zeros, v1):
    """AutoGPTQ QuantLinear.pack (4-bit branch)."""
    intweight = q.astype(np.uint32).T.copy()  # [K, N]
    qweight = np.zeros((intweight.shape[0] // 32 * 4, intweight.shape[1]), dtype=np.uint32)
    i = 0
    row = 0
    while row < qweight.shape[0]:
        for j in range(i, i + 8):
            qweight[row] |= intweight[j] << (4 * (j - i))
        i += 8
        row += 1
    z = zeros.astype(np.int64)
    if v1:
        z = z - 1
        assert (z >= 0).all(), "v1 cannot store a zero point of 0"
    z = z.astype(np.uint32)
    qzeros = np.zeros((z.shape[0], z.shape[1] // 32 * 4), dtype=np.uint32)
    i = 0
    col = 0
    while col < qzeros.shape[1]:
        for j in range(i, i + 8):
            qzeros[:, col] |= z[:, j] << (4 * (j - i))
        i += 8
        col += 1
    return qweight.view(np.int32), qzeros.view(np.int32)


AUX = {
    "tokenizer_config.json": json.dumps({"model_max_length": 128, "chat_template": "{{ x }}"}, indent=2) + "\n",
    "generation_config.json": json.dumps({"bos_token_id": 1, "eos_token_id": 2}, indent=2) + "\n",
    "special_tokens_map.json": json.dumps({"eos_token": "</s>"}) + "\n",
}


def write_ckpt(name, tensors, qconfig, extra_files=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    cfg = dict(CONFIG)
    if qconfig is not None:
        cfg["quantization_config"] = qconfig
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    for fn, text in AUX.items():
        with open(os.path.join(d, fn), "w") as f:
            f.write(text)
    for fn, text in (extra_files or {}).items():
        with open(os.path.join(d, fn), "w") as f:
            f.write(text)
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})


def main():
    rng = np.random.default_rng(20240611)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    fp = fp16_model(rng)
    write_ckpt("fp16", fp, None)

    canon = {}
    plain = {k: v for k, v in fp.items() if not any(k == n + ".weight" for n in LINEARS)}
    gemm, gemv, g1, g2, gsym = dict(plain), dict(plain), dict(plain), dict(plain), dict(plain)
    for name in LINEARS:
        w = fp[name + ".weight"]
        q, zeros, scales = quantize(w, sym=False)
        canon[name + ".q"] = q
        canon[name + ".zeros"] = zeros
        canon[name + ".scales"] = scales
        qw, qz = pack_awq_gemm(q, zeros)
        gemm.update({name + ".qweight": qw, name + ".qzeros": qz, name + ".scales": scales})
        qw, qz, sc = pack_awq_gemv(q, zeros, scales)
        gemv.update({name + ".qweight": qw, name + ".qzeros": qz, name + ".scales": sc})
        g_idx = (np.arange(w.shape[1]) // GROUP).astype(np.int32)
        qw, qz = pack_gptq(q, zeros, v1=True)
        g1.update({name + ".qweight": qw, name + ".qzeros": qz, name + ".scales": scales,
                   name + ".g_idx": g_idx})
        qw, qz = pack_gptq(q, zeros, v1=False)
        g2.update({name + ".qweight": qw, name + ".qzeros": qz, name + ".scales": scales,
                   name + ".g_idx": g_idx})
        qs, zs, ss = quantize(w, sym=True)
        qw, qz = pack_gptq(qs, zs, v1=False)  # true zeros (8) under a v1 label
        gsym.update({name + ".qweight": qw, name + ".qzeros": qz, name + ".scales": ss,
                     name + ".g_idx": g_idx})
    save_file(canon, os.path.join(OUT, "canonical.safetensors"))
    awq = {"quant_method": "awq", "bits": 4, "group_size": GROUP, "zero_point": True,
           "modules_to_not_convert": None}
    write_ckpt("awq-gemm", gemm, dict(awq, version="gemm"))
    write_ckpt("awq-gemv", gemv, dict(awq, version="gemv"))
    gptq = {"quant_method": "gptq", "bits": 4, "group_size": GROUP, "desc_act": False,
            "sym": False, "damp_percent": 0.01}
    stale = {"quantize_config.json": json.dumps({"bits": 4, "group_size": GROUP}) + "\n"}
    write_ckpt("gptq", g1, dict(gptq, checkpoint_format="gptq"), stale)
    write_ckpt("gptq-v2", g2, dict(gptq, checkpoint_format="gptq_v2"))
    write_ckpt("gptq-sym-mislabelled", gsym, dict(gptq, sym=True, checkpoint_format="gptq"))


if __name__ == "__main__":
    main()
