#!/usr/bin/env python3
"""Header-only fixtures for the formats whose producers cannot run here
(they need a GPU, or the checkpoints are only published already quantized):

  fp8-block   DeepSeek-V3 / Qwen3-FP8 style: every linear of data/tiny-llama
              as weight F8_E4M3 [N, K] + weight_scale_inv F32
              [ceil(N/128), ceil(K/128)]; quantization_config
              {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme":
              "dynamic", "weight_block_size": [128, 128]} as those models'
              config.json carry it (transformers' FineGrainedFP8 integration
              reads the same names).
  mxfp4-gptoss  gpt-oss style: tiny-llama's MLP as one expert,
              mlp.experts.gate_up_proj_blocks U8 [E, 2I, H/32, 16] +
              _scales U8 [E, 2I, H/32], down_proj_blocks [E, H, I/32, 16] +
              _scales (transformers' Mxfp4 integration / openai gpt-oss
              weights); attention kept BF16; quantization_config
              {"quant_method": "mxfp4", "modules_to_not_convert": [...]}.
              No router, so the logical count stays tiny-llama's.

Shapes come from data/tiny-llama's own header; output as
make_format_fixtures.py writes it (config.json + model.safetensors.hdr).
Run: python3 tests/ref/make_format_headers.py
"""
import json
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(ROOT, "data", "tiny-llama")
OUT = os.path.join(HERE, "formats")
SIZE = {"F16": 2, "BF16": 2, "F32": 4, "F8_E4M3": 1, "U8": 1, "I32": 4}


def source():
    with open(os.path.join(SRC, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    with open(os.path.join(SRC, "config.json")) as f:
        cfg = json.load(f)
    return h, cfg


def write(name, tensors, cfg):
    """tensors: list of (name, dtype, shape) in file order."""
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for n, dt, shape in sorted(tensors):
        nb = SIZE[dt] * math.prod(shape)
        hdr[n] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + nb]}
        off += nb
    js = json.dumps(hdr, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.safetensors.hdr"), "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    print("wrote", name)


def is_linear(n, info):
    return n.endswith("_proj.weight") and len(info["shape"]) == 2


def fp8_block(h, cfg):
    out = []
    for n, info in h.items():
        if is_linear(n, info):
            N, K = info["shape"]
            out.append((n, "F8_E4M3", [N, K]))
            out.append((n + "_scale_inv", "F32", [math.ceil(N / 128), math.ceil(K / 128)]))
        else:
            out.append((n, "BF16", info["shape"]))
    cfg = dict(cfg, torch_dtype="bfloat16")
    cfg["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3",
                                  "activation_scheme": "dynamic",
                                  "weight_block_size": [128, 128]}
    write("fp8-block", out, cfg)


def mxfp4_gptoss(h, cfg):
    out = []
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    for n, info in h.items():
        if ".mlp." in n:
            continue
        out.append((n, "BF16", info["shape"]))
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d.mlp.experts." % l
        out += [(p + "gate_up_proj_blocks", "U8", [1, 2 * I, H // 32, 16]),
                (p + "gate_up_proj_scales", "U8", [1, 2 * I, H // 32]),
                (p + "down_proj_blocks", "U8", [1, H, I // 32, 16]),
                (p + "down_proj_scales", "U8", [1, H, I // 32])]
    cfg = dict(cfg, torch_dtype="bfloat16")
    cfg["quantization_config"] = {"quant_method": "mxfp4",
                                  "modules_to_not_convert": ["model.layers.*.self_attn",
                                                             "model.embed_tokens", "lm_head"]}
    write("mxfp4-gptoss", out, cfg)


if __name__ == "__main__":
    h, cfg = source()
    fp8_block(h, cfg)
    mxfp4_gptoss(h, cfg)
