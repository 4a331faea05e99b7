#!/usr/bin/env python3
"""Does what awqkit writes load in transformers 5? Fixtures for
tests/unit/test_load_fixtures.c. NOT run by the build or by ctest: run it by
hand from the repository root after building awqkit (build/awqkit), and
commit its outputs:

    /work/venv-ref/bin/python tests/ref/make_load_fixtures.py ct
    PY_WITH_GPTQMODEL tests/ref/make_load_fixtures.py awq

For each architecture awqkit quantizes (the tiny random models of
tests/ref/models, made by transformers itself: llama, qwen2, qwen3,
mistral, phi3, gemma2, gemma3, and the Qwen2.5-VL / Gemma 3 multimodal
wrappers), it
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
                    str(ids), "--seqlen", "64", "--group-size", "32", "--device", "cpu",
                    "--force", "-q"] + fmt_arg, check=True)
    ids.unlink()
    for f in dst.iterdir():
        if f.name not in ("config.json", "model.safetensors"):
            f.unlink() if f.is_file() else shutil.rmtree(f)
    return dst


def load_and_measure(name, fmt, dst):
    cls = transformers.AutoModelForImageTextToText if name in VL else \
        transformers.AutoModelForCausalLM
    # eager attention: transformers' SDPA path drops Gemma 2's attention
    # logit soft-capping, the eager one is the model's definition
    kw = {"dtype": torch.float32, "output_loading_info": True, "attn_implementation": "eager"}
    if fmt == "awq":
        kw["device_map"] = "cpu"
    model, info = cls.from_pretrained(str(dst), **kw)
    model.eval()
    bad = {k: sorted(v) for k, v in info.items() if k != "error_msgs" and v}
    if bad or info.get("error_msgs"):
        sys.exit(f"{name}-{fmt}: transformers load report not clean: {bad} "
                 f"{info.get('error_msgs')}")
    lm = model.model.language_model if name in VL else model.model
    q = lm.layers[0].self_attn
    q = getattr(q, "q_proj", None) or getattr(q, "qkv_proj")
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
    ref = {"versions": versions(),
           "how": f"{cls.__name__}.from_pretrained(dir, dtype=float32, "
                  "output_loading_info=True) on CPU",
           "checkpoint": str(dst.relative_to(ROOT)), "ids": ids,
           "vocab": int(logits.shape[-1]), "module_type": type(q).__name__,
           "load_report": {k: sorted(v) if not isinstance(v, list) else v
                           for k, v in info.items()}}
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
            failed.append(f"{name}-{fmt}: {type(e).__name__}: {e}")
            shutil.rmtree(dst)
            for suf in (".logits.f32", ".ref.json"):
                (OUT / f"{name}-{fmt}{suf}").unlink(missing_ok=True)
    if failed:
        sys.exit("FAILED:\n  " + "\n  ".join(failed))


if __name__ == "__main__":
    main()
