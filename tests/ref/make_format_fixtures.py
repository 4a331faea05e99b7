#!/usr/bin/env python3
"""Generate tests/ref/formats/: header-only copies of quantized checkpoints of
data/tiny-llama in the formats `awqkit count` / `inspect` describe, made by
the real producing library where it runs on a CPU.

  llmcompressor + compressed-tensors (run here, CPU):
    ct-w4a16        QuantizationModifier W4A16 (int4 sym, group 128)
    ct-w4a16-asym   W4A16_ASYM (int4 asym, group 128, weight_zero_point)
    ct-w8a16        W8A16 (int8 sym per channel)
    ct-w4a16-actorder  W4A16 group 128 with actorder "weight" via GPTQModifier
    ct-nvfp4a16     NVFP4A16 (nvfp4-pack-quantized)
    ct-fp8          FP8 (float-quantized, per-tensor weight scale)
    ct-fp8-dynamic  FP8_DYNAMIC (per-channel weight scale)
    ct-fp8-block    FP8_BLOCK (128x128 block scales)
    ct-naive-w8     W8A16 saved with quantization_format naive-quantized
    ct-awq          AWQModifier W4A16_ASYM (the llm-compressor successor of AutoAWQ)
    ct-ignore-re    W4A16 with ignore ["lm_head", "re:.*layers\\.0\\.mlp\\..*"]
  bitsandbytes (0.48+ quantizes on the CPU; install it next to this
  interpreter, e.g. pip install --target DIR bitsandbytes and PYTHONPATH=DIR):
    bnb-nf4 / bnb-fp4-double / bnb-8bit   via transformers' BitsAndBytesConfig
  MLX (mlx + mlx-lm, which run on a Linux CPU, installed the same way):
    mlx-4bit / mlx-8bit-g32 / mlx-mixed-3-6 (per-module bits in "quantization")
  gpt-oss MXFP4 and FP8 block (DeepSeek style) need a GPU to produce: see
  tests/ref/make_format_headers.py.

What is committed per fixture: config.json (as written) and
model.safetensors.hdr = the first 8 + N bytes of the real model.safetensors
(the little-endian header length and the JSON header). The unit test makes
a sparse file of the full size from it, so counting reads exactly what it
would read of the real file: the header.

Also writes the full W4A16, W4A16-asym and AWQ outputs to $AWQ_CT_FULL (default
/work/fixtures/ct) for the compressed-tensors compute tests.

Run: /work/venv-ref/bin/python tests/ref/make_format_fixtures.py [name ...]
"""
import json
import os
import shutil
import struct
import sys
import tempfile

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(ROOT, "data", "tiny-llama")
OUT = os.path.join(HERE, "formats")
FULL = os.environ.get("AWQ_CT_FULL", "/work/fixtures/ct")
KEEP_FULL = {"ct-w4a16", "ct-w4a16-asym", "ct-awq"}
N_SAMPLES, SEQ = 16, 128


def calib(tok):
    with open(os.path.join(ROOT, "data", "text", "wiki.test.raw"), encoding="utf-8") as f:
        lines = [l.strip() for l in f if len(l.strip()) > 200][:N_SAMPLES]
    enc = [tok(l, truncation=True, max_length=SEQ, add_special_tokens=False) for l in lines]
    return Dataset.from_dict({"input_ids": [e["input_ids"] for e in enc],
                              "attention_mask": [e["attention_mask"] for e in enc]})


def recipe(name):
    from llmcompressor.modifiers.quantization import QuantizationModifier, GPTQModifier
    from llmcompressor.modifiers.awq import AWQModifier
    simple = {"ct-w4a16": "W4A16", "ct-w4a16-asym": "W4A16_ASYM", "ct-w8a16": "W8A16",
              "ct-nvfp4a16": "NVFP4A16", "ct-fp8": "FP8", "ct-fp8-dynamic": "FP8_DYNAMIC",
              "ct-fp8-block": "FP8_BLOCK", "ct-naive-w8": "W8A16"}
    if name in simple:
        return QuantizationModifier(targets="Linear", scheme=simple[name], ignore=["lm_head"])
    if name == "ct-awq":
        return AWQModifier(targets=["Linear"], scheme="W4A16_ASYM", ignore=["lm_head"])
    if name == "ct-w4a16-actorder":
        return GPTQModifier(targets="Linear", scheme="W4A16", ignore=["lm_head"], actorder="weight")
    if name == "ct-ignore-re":
        return QuantizationModifier(targets="Linear", scheme="W4A16",
                                    ignore=["lm_head", "re:.*layers\\.0\\.mlp\\..*"])
    raise SystemExit("unknown fixture " + name)


BNB = {
    "bnb-nf4": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4"),
    "bnb-fp4-double": dict(load_in_4bit=True, bnb_4bit_quant_type="fp4",
                           bnb_4bit_use_double_quant=True),
    "bnb-8bit": dict(load_in_8bit=True),
}

MLX = {
    "mlx-4bit": dict(q_group_size=64, q_bits=4),
    "mlx-8bit-g32": dict(q_group_size=32, q_bits=8),
    "mlx-mixed-3-6": dict(q_group_size=64, q_bits=4, quant_predicate="mixed_3_6"),
}

NAMES = ["ct-w4a16", "ct-w4a16-asym", "ct-w8a16", "ct-w4a16-actorder", "ct-nvfp4a16", "ct-fp8",
         "ct-fp8-dynamic", "ct-fp8-block", "ct-naive-w8", "ct-awq", "ct-ignore-re"] + list(BNB) + list(MLX)


def save_header(src_dir, dst_dir):
    os.makedirs(dst_dir, exist_ok=True)
    with open(os.path.join(src_dir, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = f.read(n)
    with open(os.path.join(dst_dir, "model.safetensors.hdr"), "wb") as f:
        f.write(struct.pack("<Q", n) + hdr)
    shutil.copy(os.path.join(src_dir, "config.json"), os.path.join(dst_dir, "config.json"))


def make_bnb(name):
    """bitsandbytes quantizes while transformers loads the FP16 model (on the
    CPU since bitsandbytes 0.48); save_pretrained writes its state dict."""
    from transformers import BitsAndBytesConfig
    kw = dict(BNB[name])
    if kw.get("load_in_4bit"):
        kw["bnb_4bit_compute_dtype"] = torch.float16
    model = AutoModelForCausalLM.from_pretrained(SRC, quantization_config=BitsAndBytesConfig(**kw),
                                                 device_map="cpu", dtype=torch.float16)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        save_header(tmp, os.path.join(OUT, name))
    print("wrote", name, flush=True)


def make_mlx(name):
    """mlx-lm's converter (mlx runs on a Linux CPU: pip install "mlx[cpu]"
    mlx-lm next to this interpreter, as for bitsandbytes)."""
    from mlx_lm import convert
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "out")
        convert(SRC, mlx_path=dst, quantize=True, **MLX[name])
        save_header(dst, os.path.join(OUT, name))
    print("wrote", name, flush=True)


def main():
    from llmcompressor import oneshot
    from llmcompressor.pipelines.cache import IntermediatesCache
    # AWQ's grid search pins cached activations for faster host-to-device
    # copies; pinning needs a CUDA driver, and on a CPU-only run there is no
    # copy to speed up, so it is skipped.
    if not torch.cuda.is_available():
        IntermediatesCache.pin_memory = lambda self, *a, **k: None
    names = sys.argv[1:] or NAMES
    tok = AutoTokenizer.from_pretrained(SRC)
    ds = calib(tok)
    for name in names:
        if name in BNB:
            make_bnb(name)
            continue
        if name in MLX:
            make_mlx(name)
            continue
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(SRC, dtype=torch.float16)
        with tempfile.TemporaryDirectory() as tmp:
            oneshot(model=model, dataset=ds, recipe=recipe(name), max_seq_length=SEQ,
                    num_calibration_samples=N_SAMPLES)
            kw = {"quantization_format": "naive-quantized"} if name == "ct-naive-w8" else {}
            model.save_pretrained(tmp, save_compressed=True, **kw)
            tok.save_pretrained(tmp)
            save_header(tmp, os.path.join(OUT, name))
            if name in KEEP_FULL:
                dst = os.path.join(FULL, name)
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(tmp, dst)
        print("wrote", name, flush=True)


if __name__ == "__main__":
    main()
