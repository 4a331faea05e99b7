#!/usr/bin/env python3
"""Reference fixtures for the lib/io tests, written by the reference
implementations (the `safetensors` package and transformers' sharding), so
awqkit's reader is checked against files it did not write itself.

Outputs (tests/ref/io/):
  ref_all_dtypes.safetensors  every dtype, written by safetensors.torch
  ref_all_dtypes.json         name -> {dtype, shape, hex of the bytes}
  hf_sharded/                 a tiny LlamaForCausalLM saved by transformers
                              with max_shard_size="20KB": shards, index,
                              config.json
  hf_sharded.json             name -> {dtype, shape, shard file, order}

Run from the repository root:  python3 tests/ref/gen_io_ref.py
"""
import json
import os
import shutil

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "io")


def all_dtypes():
    g = torch.Generator().manual_seed(0)
    t = {
        "f16": torch.randn(3, 4, generator=g).half(),
        "bf16": torch.randn(2, 5, generator=g).bfloat16(),
        "f32": torch.randn(7, generator=g),
        "f64": torch.randn(2, 2, generator=g).double(),
        "i8": torch.arange(-6, 6, dtype=torch.int8).reshape(3, 4),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "i16": torch.tensor([-32768, 32767, 5], dtype=torch.int16),
        "u16": torch.tensor([0, 65535, 7], dtype=torch.uint16),
        "i32": torch.tensor([[-(2**31), 2**31 - 1]], dtype=torch.int32),
        "u32": torch.tensor([0, 2**32 - 1], dtype=torch.uint32),
        "i64": torch.tensor([-(2**63), 2**63 - 1, 3], dtype=torch.int64),
        "u64": torch.tensor([0, 2**64 - 1], dtype=torch.uint64),
        "bool": torch.tensor([True, False, True]),
        "f8_e4m3": torch.tensor([0.5, -448.0, 1.0]).to(torch.float8_e4m3fn),
        "f8_e5m2": torch.tensor([0.25, -57344.0]).to(torch.float8_e5m2),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }
    path = os.path.join(OUT, "ref_all_dtypes.safetensors")
    save_file(t, path, metadata={"format": "pt", "origin": "gen_io_ref.py"})
    names = {
        torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32",
        torch.float64: "F64", torch.int8: "I8", torch.uint8: "U8",
        torch.int16: "I16", torch.uint16: "U16", torch.int32: "I32",
        torch.uint32: "U32", torch.int64: "I64", torch.uint64: "U64",
        torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3",
        torch.float8_e5m2: "F8_E5M2",
    }
    ref = {}
    for k, v in t.items():
        raw = v.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if v.numel() else b""
        ref[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "hex": raw.hex()}
    with open(os.path.join(OUT, "ref_all_dtypes.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")


def hf_sharded():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                      num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1, max_position_embeddings=64,
                      tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).half()
    d = os.path.join(OUT, "hf_sharded")
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, max_shard_size="4KB", safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        wm = json.load(f)["weight_map"]
    sd = model.state_dict()
    # "order": position in the state dict (= the order transformers shards in)
    ref = {k: {"dtype": "F16", "shape": list(sd[k].shape), "shard": wm[k], "order": i}
           for i, k in enumerate(sd)}
    with open(os.path.join(OUT, "hf_sharded.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    all_dtypes()
    hf_sharded()
    for dirpath, _, files in os.walk(OUT):
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)
