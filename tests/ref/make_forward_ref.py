#!/usr/bin/env python3
"""Reference fixtures for awqkit's forward pass (tests/unit/test_forward.c,
tests/e2e ppl checks). NOT run by the build or by ctest: run it by hand and
commit its outputs.

    python3 tests/ref/make_forward_ref.py        (from the repository root)

Everything is computed by Hugging Face transformers with torch on the CPU in
float32 (the versions used are written into each output):

  tests/ref/rope_ref.json
      inv_freq, attention factor and cos/sin rows of LlamaRotaryEmbedding for
      each rope_scaling type (default, linear, llama3, yarn with a derived and
      an explicit attention_factor, with mscale / mscale_all_dim, with
      truncate false, yarn without original_max_position_
      embeddings), i.e. transformers' ROPE_INIT_FUNCTIONS.

  tests/ref/tiny_llama_ref.json + tiny_llama_logits.f32
      data/tiny-llama (FP16 weights, run in float32): a 64-token sequence, the
      full logits at positions 0, 1, 31, 63 (raw little-endian float32,
      4 x 4096), log-softmax NLL of every predicted token; the first two
      256-token windows of data/text/wiki.test.raw (read as bytes, decoded as
      UTF-8, tokenized by transformers' tokenizer without special tokens) with
      the per-token NLL of their 255 predicted tokens; the perplexity of the
      first 16 such windows (the README figure), of the whole file in
      windows of 2048 (awqkit ppl's default) and the token count of the
      whole file.

  tests/ref/models/<name>/  (config.json, model.safetensors, ref.json,
                             logits.f32)
      tiny random models (2 layers, hidden 32, vocab 128) built with
      transformers' own classes, weights re-drawn with a fixed seed at scales
      that give O(1) activations and distinct attention patterns, rounded to
      the storage dtype, saved with save_pretrained; logits of all T
      positions of a random id sequence. config.json is rewritten in the
      transformers-4.x layout found on the Hub (rope_theta + rope_scaling
      instead of v5's rope_parameters, torch_dtype); each model is reloaded
      from disk and must reproduce its logits, so the rewritten config means
      the same thing to transformers.
"""
import json
import math
import pathlib
import struct
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (AutoTokenizer, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT / "data"
VERSIONS = {"transformers": transformers.__version__, "torch": torch.__version__}

torch.set_grad_enabled(False)


def f32list(t):
    """Exact float32 values as JSON numbers (repr of the widened double)."""
    return [float(x) for x in np.asarray(t, dtype=np.float32).reshape(-1)]


def write_f32(path, t):
    a = np.asarray(t, dtype="<f4").reshape(-1)
    path.write_bytes(a.tobytes())


# --------------------------------------------------------------------- rope
def rope_fixture():
    cases = [
        ("default", 64, 10000.0, 2048, None),
        ("linear", 64, 10000.0, 2048, {"rope_type": "linear", "factor": 4.0}),
        ("llama3", 128, 500000.0, 131072,
         {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
        ("yarn", 128, 1000000.0, 131072,
         {"rope_type": "yarn", "factor": 4.0,
          "original_max_position_embeddings": 32768}),
        ("yarn_explicit", 64, 10000.0, 16384,
         {"rope_type": "yarn", "factor": 8.0, "attention_factor": 0.9,
          "beta_fast": 16.0, "beta_slow": 2.0,
          "original_max_position_embeddings": 2048}),
        ("yarn_no_original", 32, 10000.0, 4096,
         {"rope_type": "yarn", "factor": 2.0}),
        # DeepSeek-style attention factor from mscale / mscale_all_dim
        ("yarn_mscale", 64, 10000.0, 163840,
         {"rope_type": "yarn", "factor": 40.0, "mscale": 0.707,
          "mscale_all_dim": 1.0, "beta_fast": 32.0, "beta_slow": 1.0,
          "original_max_position_embeddings": 4096}),
        # correction range not truncated to whole dimensions
        ("yarn_no_truncate", 64, 1000000.0, 65536,
         {"rope_type": "yarn", "factor": 4.0, "truncate": False,
          "original_max_position_embeddings": 16384}),
    ]
    positions = [0, 1, 2, 17, 255, 1000, 2047]
    out = {"versions": VERSIONS, "positions": positions, "cases": []}
    for name, hd, theta, max_pos, scaling in cases:
        cfg = LlamaConfig(hidden_size=hd * 4, num_attention_heads=4, head_dim=hd,
                          max_position_embeddings=max_pos, rope_theta=theta,
                          rope_scaling=scaling)
        rot = LlamaRotaryEmbedding(cfg)
        pos = torch.tensor([positions])
        cos, sin = rot(torch.zeros(1, len(positions), hd), pos)
        half = hd // 2
        out["cases"].append({
            "name": name, "head_dim": hd, "rope_theta": theta,
            "max_position_embeddings": max_pos, "rope_scaling": scaling,
            "inv_freq": f32list(rot.inv_freq),
            "attention_factor": float(rot.attention_scaling),
            "cos": f32list(cos[0, :, :half]), "sin": f32list(sin[0, :, :half]),
        })
    (HERE / "rope_ref.json").write_text(json.dumps(out, indent=1) + "\n")


# --------------------------------------------------------------- tiny-llama
TINY_TEXT = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in "
    "Paris, France. It is named after the engineer Gustave Eiffel, whose "
    "company designed and built the tower from 1887 to 1889. Locally nicknamed "
    "\"La dame de fer\", it was constructed as the centerpiece of the 1889 "
    "World's Fair.")


def nll_of(logits, ids):
    lp = torch.log_softmax(logits.double(), dim=-1)
    return [-float(lp[t, ids[t + 1]]) for t in range(len(ids) - 1)]


def tiny_llama_fixture():
    mdir = DATA / "tiny-llama"
    tok = AutoTokenizer.from_pretrained(str(mdir))
    model = LlamaForCausalLM.from_pretrained(str(mdir), dtype=torch.float32).eval()
    ids = tok(TINY_TEXT, add_special_tokens=False).input_ids[:64]
    assert len(ids) == 64, len(ids)
    logits = model(torch.tensor([ids])).logits[0]
    full_pos = [0, 1, 31, 63]
    write_f32(HERE / "tiny_llama_logits.f32", logits[full_pos])

    text = (DATA / "text" / "wiki.test.raw").read_bytes().decode("utf-8")
    all_ids = tok(text, add_special_tokens=False).input_ids
    with_special = tok(text).input_ids
    seqlen = 256
    windows = []
    total = 0.0
    for w in range(16):
        win = all_ids[w * seqlen:(w + 1) * seqlen]
        lg = model(torch.tensor([win])).logits[0]
        nll = nll_of(lg, win)
        total += sum(nll)
        if w < 2:
            windows.append({"ids": win, "nll": nll, "mean_nll": sum(nll) / len(nll)})
    mean16 = total / (16 * (seqlen - 1))
    # the whole file in windows of 2048 (the default of `awqkit ppl`)
    n2048 = len(all_ids) // 2048
    tot2048 = 0.0
    for w in range(n2048):
        win = all_ids[w * 2048:(w + 1) * 2048]
        tot2048 += sum(nll_of(model(torch.tensor([win])).logits[0], win))
    mean2048 = tot2048 / (n2048 * 2047)
    ref = {
        "versions": VERSIONS,
        "how": "LlamaForCausalLM.from_pretrained(data/tiny-llama, dtype=float32) "
               "on CPU; logits file = rows of positions full_logits_positions",
        "ids": ids,
        "full_logits_positions": full_pos,
        "vocab": int(logits.shape[-1]),
        "nll": nll_of(logits, ids),
        "wiki_seqlen": seqlen,
        "wiki_n_tokens": len(all_ids),
        "wiki_n_tokens_with_special": len(with_special),
        "wiki_windows": windows,
        "wiki_16x256_mean_nll": mean16,
        "wiki_16x256_ppl": math.exp(mean16),
        "wiki_2048_windows": n2048,
        "wiki_2048_mean_nll": mean2048,
        "wiki_2048_ppl": math.exp(mean2048),
    }
    (HERE / "tiny_llama_ref.json").write_text(json.dumps(ref) + "\n")
    print(f"tiny-llama: 16x256 ppl {math.exp(mean16):.4f}, {n2048}x2048 ppl "
          f"{math.exp(mean2048):.4f}, text {len(all_ids)} tokens")


# ------------------------------------------------------ tiny random models
def redraw(model, seed, norm_center=1.0):
    """Weights with O(1) activations: N(0, 1/fan_in) linears, N(0, 1)
    embeddings, norms 1 + 0.2 N(0, 1) (Gemma, which multiplies by 1 + w:
    0.2 N(0, 1)), biases 0.3 N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        elif "norm" in name:
            p.copy_(norm_center + 0.2 * torch.randn(p.shape, generator=g))
        elif "embed" in name:
            p.copy_(torch.randn(p.shape, generator=g))
        elif p.ndim in (2, 3):  # 3-D: transformers 5's stacked experts
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
        else:
            p.copy_(0.1 * torch.randn(p.shape, generator=g))


def legacy_config(path, dtype_name, text_key=None):
    """Rewrite a v5 config.json in the 4.x layout (rope_theta + rope_scaling,
    torch_dtype) that checkpoints on the Hub have."""
    cfg = json.loads(path.read_text())
    sub = cfg[text_key] if text_key else cfg
    rp = sub.pop("rope_parameters", None) or {}
    theta = rp.pop("rope_theta", None)
    if theta is not None:
        sub["rope_theta"] = theta
    if rp.get("type") == "mrope":
        rp.pop("rope_type", None)
        sub["rope_scaling"] = rp
    elif rp and rp.get("rope_type", "default") != "default":
        sub["rope_scaling"] = rp
    cfg.pop("dtype", None)
    cfg["torch_dtype"] = dtype_name
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16",
               torch.bfloat16: "bfloat16"}


def make_model(name, model, dtype, T, seed, rename=None, text_key=None, legacy=True,
               id_max=None, pre=None):
    out = HERE / "models" / name
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    redraw(model, seed, 0.0 if "Gemma" in type(model).__name__ else 1.0)
    if pre:
        pre(model)
    # weights exactly representable in the storage dtype (parameters only:
    # casting the whole model would also round the rotary inv_freq buffer)
    for p in model.parameters():
        p.copy_(p.to(dtype).to(torch.float32))
    cfg = model.config
    vocab = cfg.get_text_config().vocab_size
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, id_max or vocab, (1, T), generator=g)
    logits = model(input_ids=ids).logits[0].float()
    model.to(dtype).save_pretrained(str(out))
    for extra in ("generation_config.json",):
        (out / extra).unlink(missing_ok=True)
    if legacy:
        legacy_config(out / "config.json", DTYPE_NAMES[dtype], text_key)
    if rename:
        sd = load_file(str(out / "model.safetensors"))
        sd = {rename(k): v for k, v in sd.items()}
        save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    # reload from disk: the rewritten files must mean the same model
    again = type(model).from_pretrained(
        str(out), dtype=torch.float32,
        attn_implementation=model.config._attn_implementation).eval()
    lg2 = again(input_ids=ids).logits[0].float()
    err = (lg2 - logits).abs().max().item()
    assert err < 1e-5, f"{name}: reloaded model differs by {err}"
    write_f32(out / "logits.f32", logits)
    ref = {"versions": VERSIONS, "architecture": type(model).__name__,
           "storage_dtype": DTYPE_NAMES[dtype], "T": T, "vocab": vocab,
           "ids": ids[0].tolist(), "logits_absmax": float(logits.abs().max())}
    (out / "ref.json").write_text(json.dumps(ref) + "\n")
    size = (out / "model.safetensors").stat().st_size
    print(f"{name}: {size} bytes, |logits| max {ref['logits_absmax']:.3f}")


def small(**kw):
    base = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                vocab_size=128, max_position_embeddings=512, rms_norm_eps=1e-6,
                rope_theta=10000.0, bos_token_id=1, eos_token_id=2)
    base.update(kw)
    return base


def random_models():
    torch.manual_seed(0)
    # Qwen2: q/k/v biases, tied embeddings (no lm_head.weight), FP16
    make_model("qwen2-tied",
               Qwen2ForCausalLM(Qwen2Config(**small(tie_word_embeddings=True))),
               torch.float16, T=48, seed=11)
    # Qwen3: q_norm / k_norm, untied, BF16
    make_model("qwen3",
               Qwen3ForCausalLM(Qwen3Config(**small(tie_word_embeddings=False))),
               torch.bfloat16, T=48, seed=12)
    # Llama with llama3 rope scaling (all three frequency bands at head_dim
    # 16: wavelengths 6.3 .. 19869 against 16 / 64), FP32, T beyond 64
    make_model("llama-rope-llama3",
               LlamaForCausalLM(LlamaConfig(**small(
                   rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                 "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 64},
                   tie_word_embeddings=False))),
               torch.float32, T=96, seed=13)
    # Llama with yarn (derived attention factor 0.1 ln 4 + 1), FP16, MHA
    make_model("llama-rope-yarn",
               LlamaForCausalLM(LlamaConfig(**small(
                   num_key_value_heads=4,
                   rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                 "original_max_position_embeddings": 64},
                   tie_word_embeddings=False))),
               torch.float16, T=96, seed=14)
    # Mistral with linear rope scaling, 1 KV head (MQA), FP32
    make_model("mistral-rope-linear",
               MistralForCausalLM(MistralConfig(**small(
                   num_key_value_heads=1, sliding_window=4096,
                   rope_scaling={"rope_type": "linear", "factor": 2.0},
                   tie_word_embeddings=False))),
               torch.float32, T=64, seed=15)
    # Llama with an exact-GELU MLP (hidden_act is read, not assumed SiLU)
    make_model("llama-gelu",
               LlamaForCausalLM(LlamaConfig(**small(hidden_act="gelu",
                                                    tie_word_embeddings=False))),
               torch.float32, T=32, seed=17)
    # Qwen2.5-VL: the text decoder under model.language_model.* (the layout
    # transformers 4.52+ writes), a 1-block vision tower under model.visual.*;
    # text-only input, so mrope = plain rope.
    from transformers import (Qwen2_5_VLConfig,
                              Qwen2_5_VLForConditionalGeneration)
    vl_cfg = Qwen2_5_VLConfig(
        text_config=dict(hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2,
                         vocab_size=128, max_position_embeddings=512,
                         rope_theta=10000.0, rms_norm_eps=1e-6,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
                         tie_word_embeddings=False),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2,
                           out_hidden_size=64, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, fullatt_block_indexes=[0],
                           window_size=56),
        vocab_size=128, image_token_id=120, video_token_id=121,
        vision_start_token_id=122, vision_end_token_id=123, tie_word_embeddings=False)

    def vl_rename(k):
        if k.startswith("model."):
            return "model.language_model." + k[len("model."):]
        if k.startswith("visual."):
            return "model." + k
        return k

    make_model("qwen2_5_vl", Qwen2_5_VLForConditionalGeneration(vl_cfg),
               torch.bfloat16, T=40, seed=16, rename=vl_rename, text_key="text_config")


# ------------------------------------------- Phi-3 and Gemma 2 / Gemma 3
def new_family_models():
    """Phi-3 (fused qkv_proj / gate_up_proj), Gemma 2 ((1 + w) norms, GELU-tanh,
    sandwich norms, query_pre_attn_scalar, attention and final soft-capping,
    alternating sliding-window layers), Gemma 3 text (q/k norms, a local rope
    for sliding layers, layer_types) and Gemma3ForConditionalGeneration (the
    same decoder under model.language_model, a 1-layer SigLIP tower). Small
    soft-caps and windows so that each feature changes the logits. The Gemma
    configs stay in the transformers 5 layout (per-layer-type
    rope_parameters). Gemma 2 runs transformers' eager attention: its SDPA
    path leaves out the attention soft-capping."""
    from transformers import (Gemma2Config, Gemma2ForCausalLM, Gemma3Config,
                              Gemma3ForCausalLM, Gemma3ForConditionalGeneration,
                              Gemma3TextConfig, Phi3Config, Phi3ForCausalLM)
    torch.manual_seed(0)
    phi = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=4, vocab_size=128,
               max_position_embeddings=512, rms_norm_eps=1e-5, pad_token_id=0,
               bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    make_model("phi3", Phi3ForCausalLM(Phi3Config(**phi)), torch.bfloat16, T=40, seed=21)
    gem = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
               num_attention_heads=4, num_key_value_heads=2, head_dim=16,
               vocab_size=128, max_position_embeddings=512, rms_norm_eps=1e-6,
               query_pre_attn_scalar=24, sliding_window=8, pad_token_id=0,
               bos_token_id=2, eos_token_id=1, tie_word_embeddings=True)
    make_model("gemma2",
               Gemma2ForCausalLM(Gemma2Config(**gem, attn_logit_softcapping=2.0,
                                              final_logit_softcapping=15.0,
                                              attn_implementation="eager")),
               torch.bfloat16, T=40, seed=22, legacy=False)
    g3 = dict(gem, layer_types=["sliding_attention", "full_attention",
                                "sliding_attention"],
              rope_parameters={
                  "full_attention": {"rope_type": "linear", "factor": 2.0,
                                     "rope_theta": 1000000.0},
                  "sliding_attention": {"rope_type": "default", "rope_theta": 500.0}})
    make_model("gemma3", Gemma3ForCausalLM(Gemma3TextConfig(**g3)), torch.float32,
               T=40, seed=23, legacy=False)
    vl = Gemma3Config(
        text_config=dict(g3, vocab_size=128),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, image_size=28, patch_size=14),
        mm_tokens_per_image=4, image_token_index=120, boi_token_index=121,
        eoi_token_index=122, tie_word_embeddings=True)
    make_model("gemma3_vl", Gemma3ForConditionalGeneration(vl), torch.bfloat16, T=40,
               seed=24, legacy=False, id_max=100)


# ------------------------------------------------------- sliding windows
def window_models():
    """Mistral with a sliding window of 8 keys on 40 tokens (every layer),
    Phi-3 with a window of 12 (both transformers 5: a sliding-window mask in
    every layer)."""
    from transformers import Phi3Config, Phi3ForCausalLM
    torch.manual_seed(0)
    make_model("mistral-window",
               MistralForCausalLM(MistralConfig(**small(sliding_window=8,
                                                        tie_word_embeddings=False))),
               torch.float32, T=40, seed=41)
    make_model("phi3-window",
               Phi3ForCausalLM(Phi3Config(
                   hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, vocab_size=128,
                   max_position_embeddings=512, pad_token_id=0, bos_token_id=1,
                   eos_token_id=2, sliding_window=12, tie_word_embeddings=False)),
               torch.bfloat16, T=40, seed=42)


# ----------------------------------------------------- mixture of experts
def moe_models():
    """Mixtral (block_sparse_moe, w1/w3/w2, renormalized top-2), Qwen2-MoE
    (shared expert with its sigmoid gate, a dense layer from mlp_only_layers,
    q/k/v biases, top-k not renormalized), Qwen3-MoE (q/k norms,
    norm_topk_prob, top-3 of 8). transformers 5 stacks the experts in memory
    and saves them per expert, as on the Hub."""
    from transformers import (MixtralConfig, MixtralForCausalLM, Qwen2MoeConfig,
                              Qwen2MoeForCausalLM, Qwen3MoeConfig,
                              Qwen3MoeForCausalLM)
    torch.manual_seed(0)
    base = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, vocab_size=128,
                max_position_embeddings=512, rms_norm_eps=1e-6, rope_theta=10000.0,
                bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    make_model("mixtral",
               MixtralForCausalLM(MixtralConfig(**base, num_local_experts=4,
                                                num_experts_per_tok=2)),
               torch.bfloat16, T=40, seed=31)
    make_model("qwen2_moe",
               Qwen2MoeForCausalLM(Qwen2MoeConfig(
                   **dict(base, num_hidden_layers=3), num_experts=4, num_experts_per_tok=2,
                   moe_intermediate_size=24, shared_expert_intermediate_size=40,
                   mlp_only_layers=[1], norm_topk_prob=False)),
               torch.float32, T=40, seed=32)
    make_model("qwen3_moe",
               Qwen3MoeForCausalLM(Qwen3MoeConfig(
                   **base, head_dim=16, num_experts=8, num_experts_per_tok=3,
                   moe_intermediate_size=24, norm_topk_prob=True)),
               torch.bfloat16, T=40, seed=33)


# ------------------------------------------------- DeepSeek-V2 / V3 (MLA)
def deepseek_models():
    """Multi-head latent attention (q_a_proj / q_a_layernorm / q_b_proj or a
    plain q_proj, kv_a_proj_with_mqa / kv_a_layernorm / kv_b_proj, rope on
    qk_rope_head_dim only, v_head_dim != qk_head_dim), first_k_dense_replace
    dense layers then experts with shared experts:
      deepseek_v3        q_lora, yarn rope with mscale / mscale_all_dim
                         (softmax scale * mscale^2), interleaved rope,
                         sigmoid + e_score_correction_bias, 4 groups top-2,
                         top-3, norm_topk_prob, routed_scaling_factor 2.5
      deepseek_v3-noqlora  plain q_proj, rope_interleave false, 2 shared
                         experts, no renormalization
      deepseek_v2        V2-Lite style (no q_lora), softmax greedy top-2
      deepseek_v2-group  q_lora, group_limited_greedy (4 groups, top-2)"""
    from transformers import (DeepseekV2Config, DeepseekV2ForCausalLM,
                              DeepseekV3Config, DeepseekV3ForCausalLM)
    torch.manual_seed(0)
    base = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                num_attention_heads=4, num_key_value_heads=4, vocab_size=128,
                max_position_embeddings=512, rms_norm_eps=1e-6,
                bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
                kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8,
                v_head_dim=12, moe_intermediate_size=16, n_routed_experts=8,
                first_k_dense_replace=1)

    def with_bias(model, seed):
        # e_score_correction_bias is a buffer: redraw() does not see it
        g = torch.Generator().manual_seed(seed)
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                # exact in every storage dtype (it is saved in the model's)
                b.copy_((0.3 * torch.randn(b.shape, generator=g)).to(torch.bfloat16))
        return model

    v3 = DeepseekV3ForCausalLM(DeepseekV3Config(
        **base, q_lora_rank=24, n_group=4, topk_group=2, num_experts_per_tok=3,
        n_shared_experts=1, routed_scaling_factor=2.5, norm_topk_prob=True,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                         "original_max_position_embeddings": 128, "beta_fast": 32.0,
                         "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.707}))
    make_model("deepseek_v3", v3, torch.bfloat16, T=40, seed=41,
               pre=lambda m: with_bias(m, 141))
    make_model("deepseek_v3-noqlora",
               DeepseekV3ForCausalLM(DeepseekV3Config(
                   **base, q_lora_rank=None, n_group=2, topk_group=1,
                   num_experts_per_tok=2, n_shared_experts=2, routed_scaling_factor=1.5,
                   norm_topk_prob=False, rope_interleave=False, rope_theta=10000.0)),
               torch.float32, T=40, seed=42, pre=lambda m: with_bias(m, 142))
    make_model("deepseek_v2",
               DeepseekV2ForCausalLM(DeepseekV2Config(
                   **base, q_lora_rank=None, num_experts_per_tok=2, n_shared_experts=2,
                   topk_method="greedy", routed_scaling_factor=1.0, rope_theta=10000.0)),
               torch.bfloat16, T=40, seed=43)
    make_model("deepseek_v2-group",
               DeepseekV2ForCausalLM(DeepseekV2Config(
                   **base, q_lora_rank=24, num_experts_per_tok=3, n_shared_experts=1,
                   topk_method="group_limited_greedy", n_group=4, topk_group=2,
                   routed_scaling_factor=16.0, rope_theta=10000.0)),
               torch.float32, T=40, seed=44)


def main():
    what = sys.argv[1:] or ["rope", "tiny", "models"]
    if "llama-gelu" in what:
        torch.manual_seed(0)
        make_model("llama-gelu",
                   LlamaForCausalLM(LlamaConfig(**small(hidden_act="gelu",
                                                        tie_word_embeddings=False))),
                   torch.float32, T=32, seed=17)
    if "rope" in what:
        rope_fixture()
    if "tiny" in what:
        tiny_llama_fixture()
    if "models" in what:
        random_models()
    if "models" in what or "new" in what:
        new_family_models()
    if "models" in what or "moe" in what:
        moe_models()
    if "models" in what or "window" in what:
        window_models()
    if "models" in what or "deepseek" in what:
        deepseek_models()


if __name__ == "__main__":
    main()
