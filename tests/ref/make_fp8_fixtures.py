#!/usr/bin/env python3
"""FP8 block-source fixtures for awqkit (tests/unit/test_fp8src.c,
tests/e2e/test_quantize_fp8.c). NOT run by the build or by ctest: run it by
hand from the repository root with /work/venv-ref (torch with
float8_e4m3fn, transformers 5, safetensors) and commit its outputs:

    /work/venv-ref/bin/python tests/ref/make_fp8_fixtures.py

Writes tests/ref/fp8/:
  tiny-qwen3/        a tiny random Qwen3ForCausalLM made by transformers
                     (hidden 160, intermediate 288, 2 layers, 2 heads of
                     64, 1 KV head, vocab 256, initializer_range 0.2 so its
                     logits are peaked), BF16: "the BF16 original".
  tiny-qwen3-fp8/    the same model as DeepSeek-V3 / Qwen3-FP8 ship theirs:
                     every decoder linear an F8_E4M3 .weight [N, K] plus an
                     F32 .weight_scale_inv [ceil(N/128), ceil(K/128)]
                     (scale = amax of the block / 448, codes = w / scale
                     cast to float8_e4m3fn, as DeepSeek's fp8 cast does);
                     embeddings, norms, lm_head stay BF16; config.json
                     quantization_config {quant_method "fp8", fmt "e4m3",
                     weight_block_size [128, 128], activation_scheme
                     "dynamic"}. 160 and 288 are not multiples of 128: the
                     last block row / column is partial.
  dequant_ref.safetensors
                     torch's dequantization (fp32: fp8.float() times the
                     block's scale) of model.layers.0.mlp.down_proj.weight
                     [160, 288] and model.layers.1.self_attn.k_proj.weight
                     [64, 160]: awqkit's must be bit-identical.
  ppl_ref.json       transformers' perplexity (float32) on ids.txt of the
                     BF16 original and of the FP8 weights dequantized.
  ids.txt            1024 token ids sampled from the BF16 model (8 rows of
                     128; temperature 1, seed 0): calibration and evaluation
                     text the model finds likely, so perplexity reacts to
                     damaged weights.
"""
import json
import pathlib
import shutil

import torch
import transformers
from safetensors.torch import load_file, save_file

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "fp8"
BLOCK = 128
E4M3_MAX = 448.0


def make_model():
    cfg = transformers.Qwen3Config(
        hidden_size=160, intermediate_size=288, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=64,
        vocab_size=256, max_position_embeddings=512, rms_norm_eps=1e-6,
        rope_theta=10000.0, tie_word_embeddings=False, initializer_range=0.2,
        bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    m = transformers.Qwen3ForCausalLM(cfg).to(torch.bfloat16).eval()
    return m


def fp8_block(w):
    """DeepSeek-style block cast: (codes float8_e4m3fn, scale_inv f32)."""
    n, k = w.shape
    R, C = -(-n // BLOCK), -(-k // BLOCK)
    w = w.float()
    s = torch.empty(R, C, dtype=torch.float32)
    q = torch.empty(n, k, dtype=torch.float8_e4m3fn)
    for i in range(R):
        for j in range(C):
            blk = w[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK]
            sc = (blk.abs().max() / E4M3_MAX).clamp(min=1e-12)
            s[i, j] = sc
            q[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK] = \
                (blk / sc).to(torch.float8_e4m3fn)
    return q, s


def dequant(q, s):
    n, k = q.shape
    full = s.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)[:n, :k]
    return q.float() * full


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    m = make_model()
    bf = OUT / "tiny-qwen3"
    m.save_pretrained(bf)
    for f in bf.iterdir():
        if f.name not in ("config.json", "model.safetensors"):
            f.unlink()

    sd = load_file(str(bf / "model.safetensors"))
    out = {}
    for name, t in sd.items():
        if name.startswith("model.layers.") and name.endswith("_proj.weight"):
            q, s = fp8_block(t)
            out[name] = q.contiguous()
            out[name + "_scale_inv"] = s.contiguous()
        else:
            out[name] = t
    fp = OUT / "tiny-qwen3-fp8"
    fp.mkdir()
    save_file(out, str(fp / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((bf / "config.json").read_text())
    cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3",
                                  "quant_method": "fp8", "weight_block_size": [BLOCK, BLOCK]}
    (fp / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    ref = {}
    for name in ("model.layers.0.mlp.down_proj.weight", "model.layers.1.self_attn.k_proj.weight"):
        ref[name] = dequant(out[name], out[name + "_scale_inv"]).contiguous()
    save_file(ref, str(OUT / "dequant_ref.safetensors"))

    # ids the model itself finds likely
    g = torch.Generator().manual_seed(0)
    rows = []
    with torch.no_grad():
        for r in range(8):
            ids = torch.tensor([[int(torch.randint(3, 256, (1,), generator=g))]])
            for _ in range(127):
                logits = m(ids).logits[0, -1].float()
                nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)
                ids = torch.cat([ids, nxt.view(1, 1)], 1)
            rows.append(" ".join(str(int(x)) for x in ids[0]))
    (OUT / "ids.txt").write_text("\n".join(rows) + "\n")

    # transformers' perplexity on those ids (float32): the BF16 original,
    # and the same model with torch's dequantization of the FP8 weights
    ids = torch.tensor([[int(x) for x in r.split()] for r in rows])
    # reloaded in float32 (the in-memory model's rotary inv_freq buffer was
    # cast to BF16 with it)
    f32 = transformers.AutoModelForCausalLM.from_pretrained(bf, dtype=torch.float32).eval()

    def ppl():
        with torch.no_grad():
            lg = f32(ids).logits
        nll = torch.nn.functional.cross_entropy(lg[:, :-1].reshape(-1, lg.shape[-1]),
                                                ids[:, 1:].reshape(-1))
        return float(torch.exp(nll))
    ref_ppl = {"bf16": ppl()}
    sdict = f32.state_dict()
    with torch.no_grad():
        for name, t in out.items():
            if t.dtype == torch.float8_e4m3fn:
                sdict[name].copy_(dequant(t, out[name + "_scale_inv"]))
    ref_ppl["fp8"] = ppl()
    (OUT / "ppl_ref.json").write_text(json.dumps(ref_ppl, indent=2) + "\n")
    print("torch", torch.__version__, "transformers", transformers.__version__)
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(p.relative_to(HERE), p.stat().st_size)


if __name__ == "__main__":
    main()
