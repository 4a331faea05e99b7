#!/usr/bin/env python3
"""Does what awqkit writes load in transformers 5? Fixtures for
tests/unit/test_load_fixtures.c. NOT run by the build or by ctest: run it by
hand from the repository root after building awqkit (build/awqkit), and
commit its outputs:

    /work/venv-ref/bin/python tests/ref/make_load_fixtures.py ct
    PY_WITH_GPTQMODEL tests/ref/make_load_fixtures.py awq

For each architecture awqkit quantizes (the tiny random models of
tests/ref/models, made by transformers itself: llama, qwen2, qwen3,
mistral, phi3, gemma2, gemma3, the Qwen2.5-VL / Gemma 3 multimodal
wrappers, and the mixture-of-experts mixtral, qwen2_moe, qwen3_moe,
deepseek_v2, deepseek_v3: see MOE below for their settings and for what
transformers cannot load), it
  1. quantizes the model with awqkit (AWQ search, 4-bit, group 32,
     asymmetric; 8 random calibration rows of 64 ids, seed 5) to
     tests/ref/load/<model>-<fmt>/, --format compressed-tensors (fmt "ct")
     or AWQ GEMM (fmt "awq"); only config.json and model.safetensors kept;
  2. loads that directory with transformers (AutoModelForCausalLM, or
     AutoModelForImageTextToText for the multimodal ones) on the CPU, dtype
     float32, eager attention, output_loading_info=True, and FAILS when any key is missing,
     unexpected or mismatched (the tensor names awqkit wrote must be the
     ones transformers' model expects) or when the linears were not
     converted to the quantized modules;
  3. records the logits of 16 fixed ids (seed 11) as
     tests/ref/load/<model>-<fmt>.logits.f32 (+ .ref.json: ids, versions,
     module type, the load report).
compressed-tensors loads through the compressed-tensors package (weights
decompressed to float32 on the CPU); AWQ through gptqmodel.
"""
import json
import pathlib
import random
import shutil
import struct
import subprocess
import sys

import torch
import transformers

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "load"
AWQKIT = ROOT / "build" / "awqkit"
MODELS = ["llama-gelu", "qwen2-tied", "qwen3", "mistral-window", "phi3", "gemma2", "gemma3",
          "qwen2_5_vl", "gemma3_vl"]
VL = {"qwen2_5_vl", "gemma3_vl"}
# Mixture-of-experts and DeepSeek-V2/V3 (MLA + experts). Their experts are
# 16 wide (Qwen MoE: 24): group 16 (8) so that every expert linear is
# quantized (a group that does not divide the width keeps the down
# projections in BF16, and transformers 5.17's per-expert compressed-tensors
# merge then drops them as unexpected keys). Calibration
# routes few tokens to some experts: those get RTN, as awqkit documents.
MOE = ["mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"]
MODELS += MOE
# transformers 5 fuses each MoE layer's experts into 3-D parameters
# (experts.gate_up_proj / experts.down_proj) on load. Compressed-tensors
# checkpoints go through a converter that decompresses every expert and
# stacks them; in transformers 5.17 that converter collects weight_packed /
# weight_scale / weight_shape but not weight_zero_point, so only symmetric
# (--sym) MoE checkpoints load. For AWQ there is no such converter: the AWQ
# integration replaces nn.Linear modules only, and the fused experts are
# plain parameters (per-expert AWQ modules exist only for MiniCPM5-MoE), so
# the per-expert qweight/qzeros/scales are unexpected keys and the fused
# experts missing. These loads are still attempted and their failure is
# printed; they are not fixtured.
CANNOT_LOAD = {
    (m, "awq"): "transformers 5 fuses the experts into 3-D parameters and its AWQ "
                "integration converts nn.Linear modules only: per-expert qweight/qzeros/"
                "scales UNEXPECTED, experts.gate_up_proj/down_proj MISSING"
    for m in MOE}


def extra_args(name, fmt):
    if name not in MOE:
        return ["--group-size", "32"]
    # gptqmodel's AWQ kernels take no group of 8: AWQ stays at 16 (the Qwen
    # experts' down projections are then kept, moot as AWQ MoE cannot load)
    group = "8" if name.startswith("qwen") and fmt == "ct" else "16"
    return ["--group-size", group] + (["--sym"] if fmt == "ct" else [])
N_IDS = 16


def versions():
    v = {"transformers": transformers.__version__, "torch": torch.__version__}
    for mod in ("compressed_tensors", "gptqmodel"):
        try:
            v[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return v


def write_f32(path, t):
    a = t.detach().to(torch.float32).contiguous().view(-1).tolist()
    path.write_bytes(struct.pack("<%df" % len(a), *a))


def quantize(name, fmt, vocab):
    src = HERE / "models" / name
    dst = OUT / f"{name}-{fmt}"
    rng = random.Random(5)
    hi = min(vocab, 100)  # the VL fixtures' image tokens sit above 100
    ids = OUT / f"calib-{name}-{fmt}.txt"
    ids.write_text("\n".join(" ".join(str(rng.randrange(hi)) for _ in range(64))
                             for _ in range(8)) + "\n")
    fmt_arg = ["--format", "compressed-tensors"] if fmt == "ct" else ["--format", "awq"]
    subprocess.run([str(AWQKIT), "quantize", str(src), "-o", str(dst), "--calib-tokens",
                    str(ids), "--seqlen", "64", "--device", "cpu",
                    "--force", "-q"] + fmt_arg + extra_args(name, fmt), check=True)
    ids.unlink()
    for f in dst.iterdir():
        if f.name not in ("config.json", "model.safetensors"):
            f.unlink() if f.is_file() else shutil.rmtree(f)
    return dst


def widen(model):
    """Parameters left in another dtype than float32, cast in place. A kept
    BF16 tensor (the MoE router) stays BF16 in a compressed-tensors model
    loaded with dtype=float32, and the fused experts come out in the dtype of
    the checkpoint's weight_scale (FP16: transformers' expert converter
    dequantizes with the stored scale, where its dense path first loads the
    scale into a float32 parameter); the forward then fails on mixed dtypes.
    Widening is exact and keeps what transformers computed."""
    cast = {}
    for pname, prm in model.named_parameters():
        if prm.is_floating_point() and prm.dtype != torch.float32:
            cast[pname] = str(prm.dtype)
            prm.data = prm.data.float()
    return cast


def f32_scale_logits(cls, dst, ids):
    """The same checkpoint with weight_scale widened to float32 (exact), so
    that transformers dequantizes the experts in float32 as awqkit does: the
    tight check of awqkit's MoE forward that the FP16-rounded experts of the
    plain load cannot give."""
    from safetensors.torch import load_file, save_file
    tmp = OUT / f"tmp-{dst.name}-f32scale"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        shutil.copy(dst / "config.json", tmp / "config.json")
        sd = load_file(dst / "model.safetensors")
        save_file({k: v.float() if k.endswith("weight_scale") else v for k, v in sd.items()},
                  tmp / "model.safetensors", metadata={"format": "pt"})
        model, info = cls.from_pretrained(str(tmp), dtype=torch.float32, output_loading_info=True,
                                          attn_implementation="eager")
        if any(v for v in info.values()):
            sys.exit(f"{dst.name} (float32 scales): load report not clean: {info}")
        model.eval()
        cast = widen(model)
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids])).logits[0].float(), cast
    finally:
        shutil.rmtree(tmp)


def load_and_measure(name, fmt, dst):
    cls = transformers.AutoModelForImageTextToText if name in VL else \
        transformers.AutoModelForCausalLM
    # eager attention: transformers' SDPA path drops Gemma 2's attention
    # logit soft-capping, the eager one is the model's definition
    kw = {"dtype": torch.float32, "output_loading_info": True, "attn_implementation": "eager"}
    if fmt == "awq":
        kw["device_map"] = "cpu"
        if name in MOE:
            # gptqmodel's default CPU kernel wants out_features % 32 == 0 (the
            # tiny experts are 16 wide); its torch kernel takes any multiple of
            # 8, so the failure shown is the structural one, not the kernel's
            kw["quantization_config"] = transformers.AwqConfig(bits=4, backend="torch_awq")
    model, info = cls.from_pretrained(str(dst), **kw)
    model.eval()
    cast = widen(model) if fmt == "ct" and name in MOE else {}
    bad = {k: sorted(v) for k, v in info.items() if k != "error_msgs" and v}
    if bad or info.get("error_msgs"):
        sys.exit(f"{name}-{fmt}: transformers load report not clean: {bad} "
                 f"{info.get('error_msgs')}")
    lm = model.model.language_model if name in VL else model.model
    q = lm.layers[0].self_attn
    q = getattr(q, "q_proj", None) or getattr(q, "q_a_proj", None) or getattr(q, "qkv_proj")
    # compressed-tensors on the CPU decompresses the packed weights into
    # plain Linear modules after loading them (the clean load report says
    # weight_packed / weight_scale / weight_zero_point were all consumed);
    # AWQ must become gptqmodel's quantized module
    if fmt == "awq" and type(q).__name__ == "Linear":
        sys.exit(f"{name}-{fmt}: q_proj loaded as a plain Linear (not converted)")
    cfg = model.config.get_text_config()
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(0, min(cfg.vocab_size, 100), (N_IDS,), generator=g).tolist()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    write_f32(OUT / f"{name}-{fmt}.logits.f32", logits)
    extra = {}
    if fmt == "ct" and name in MOE:
        l32, cast32 = f32_scale_logits(cls, dst, ids)
        write_f32(OUT / f"{name}-{fmt}.f32scale.logits.f32", l32)
        extra = {"f32scale": {"logits": f"{name}-{fmt}.f32scale.logits.f32",
                              "cast_to_float32": cast32,
                              "rel_diff_vs_plain_load":
                                  float((l32 - logits).norm() / logits.norm())}}
    ref = {"versions": versions(),
           "how": f"{cls.__name__}.from_pretrained(dir, dtype=float32, "
                  "output_loading_info=True) on CPU",
           "checkpoint": str(dst.relative_to(ROOT)), "ids": ids,
           "vocab": int(logits.shape[-1]), "module_type": type(q).__name__,
           "cast_to_float32": cast,
           "load_report": {k: sorted(v) if not isinstance(v, list) else v
                           for k, v in info.items()}, **extra}
    (OUT / f"{name}-{fmt}.ref.json").write_text(json.dumps(ref, indent=1, default=str) + "\n")
    print(f"{name}-{fmt}: {type(q).__name__}, logits {tuple(logits.shape)}")


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("ct", "awq"):
        sys.exit("usage: make_load_fixtures.py ct|awq [model ...]")
    fmt = sys.argv[1]
    names = sys.argv[2:] or MODELS
    OUT.mkdir(exist_ok=True)
    failed = []
    for name in names:
        cfg = json.loads((HERE / "models" / name / "config.json").read_text())
        vocab = cfg.get("text_config", cfg).get("vocab_size", cfg.get("vocab_size"))
        dst = quantize(name, fmt, vocab)
        try:
            load_and_measure(name, fmt, dst)
        except (Exception, SystemExit) as e:  # report every model, then fail
            why = CANNOT_LOAD.get((name, fmt))
            if why:
                print(f"{name}-{fmt}: cannot load in transformers {transformers.__version__} "
                      f"({why}); got {type(e).__name__}: {str(e)[:300]}")
            else:
                failed.append(f"{name}-{fmt}: {type(e).__name__}: {e}")
            shutil.rmtree(dst)
            for suf in (".logits.f32", ".f32scale.logits.f32", ".ref.json"):
                (OUT / f"{name}-{fmt}{suf}").unlink(missing_ok=True)
    if failed:
        sys.exit("FAILED:\n  " + "\n  ".join(failed))


if __name__ == "__main__":
    main()
