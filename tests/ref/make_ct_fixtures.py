#!/usr/bin/env python3
"""compressed-tensors reference fixtures for awqkit (tests/unit/test_ct_ref.c).
NOT run by the build or by ctest: run it by hand (from the repository root)
with a Python that has torch, transformers 5, compressed-tensors and
llmcompressor, and commit its outputs:

    python3 tests/ref/make_ct_fixtures.py awq      # step 1
    python3 tests/ref/make_ct_fixtures.py load     # step 2, after awqkit
                                                   # wrote tests/ref/ct/awqkit-ct

Step 1 (llm-compressor writes, transformers reads):
  tests/ref/ct/llmc-awq-w4a16-asym/
      data/tiny-llama quantized by llm-compressor's AWQModifier (scheme
      W4A16_ASYM: int4, group 128, asymmetric, pack-quantized), oneshot on
      the CPU with 8 calibration windows of 256 tokens taken from the end
      of data/text/wiki.test.raw, saved with save_compressed=True.
  tests/ref/ct/llmc-awq-w4a16-asym.ref.json (+ .logits.f32)
      transformers + compressed-tensors loading that directory (dtype
      float32, the weights decompressed on the CPU): perplexity of the
      first 16 windows of 256 tokens of wiki.test.raw (non-overlapping,
      255 predicted tokens each: `awqkit ppl --seqlen 256 --max-chunks 16`),
      and the logits of a fixed 32-token prompt at 4 positions.

Step "quant" (the compressed-tensors library packs, awqkit reads):
  tests/ref/quant/compressed-tensors/
      the canonical codes / zeros / scales of tests/ref/quant/canonical.
      safetensors (the same linears as awq-gemm/, gptq/ ...) packed by
      compressed_tensors' own pack_to_int32 (weights along K, zero points
      along out-features, both offset by 2^(bits-1)), scales [N, G], the
      quantization_config made by compressed_tensors' QuantizationConfig;
      the other tensors and files copied from awq-gemm/.

Step "float" (llm-compressor writes float weights, transformers reads):
  tests/ref/ct/tiny-qwen2-<scheme>/ (+ .ref.json, .logits.f32)
      tests/ref/quant/fp16 (a tiny random Qwen2) quantized by
      llm-compressor's QuantizationModifier, weight-only, no calibration:
      nvfp4a16 (preset NVFP4A16: FP4 E2M1 weights packed two per byte, FP8
      E4M3 scales per 16 inputs, an F32 global scale; nvfp4-pack-quantized)
      and fp8-channel / fp8-block (FP8 E4M3 weights, per-channel scales /
      128x128... here 32x32 block scales; float-quantized). Logits of all
      positions of a fixed id sequence by transformers + compressed-tensors
      (float32, CPU). mixed-int: two config groups selected by "re:"
      targets, int8 per-channel symmetric attention and int4 group-32
      asymmetric MLP (pack-quantized).

Step "load" (awqkit writes, transformers reads), after
    awqkit repack tests/ref/quant/awq-gemm -o tests/ref/ct/awqkit-qwen2-ct \
        --to compressed-tensors
  tests/ref/ct/awqkit-qwen2-ct.ref.json (+ .logits.f32)
      transformers + compressed-tensors load that awqkit-written checkpoint
      (its quantization_config and tensors as awqkit writes them), dtype
      float32 on the CPU; logits of all positions of a fixed 16-token id
      sequence. tests/unit/test_ct.c repacks again, checks the tensors are
      the committed ones, and compares awqkit's forward with these logits.
"""
import json
import math
import pathlib
import shutil
import struct
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT / "data"
CT = HERE / "ct"
SEQLEN = 256
N_WIN = 16
LOGIT_POS = [0, 1, 15, 31]


def versions():
    import compressed_tensors
    v = {"transformers": transformers.__version__, "torch": torch.__version__,
         "compressed_tensors": compressed_tensors.__version__}
    try:
        import llmcompressor
        v["llmcompressor"] = llmcompressor.__version__
    except ImportError:
        pass
    return v


def wiki_ids(tok):
    text = (DATA / "text" / "wiki.test.raw").read_bytes().decode("utf-8")
    return tok(text, add_special_tokens=False).input_ids


def write_f32(path, t):
    a = t.detach().to(torch.float32).contiguous().view(-1).tolist()
    path.write_bytes(struct.pack("<%df" % len(a), *a))


def measure(mdir, name):
    tok = AutoTokenizer.from_pretrained(str(DATA / "tiny-llama"))
    model = AutoModelForCausalLM.from_pretrained(str(mdir), dtype=torch.float32).eval()
    ids = wiki_ids(tok)
    total, n = 0.0, 0
    with torch.no_grad():
        for w in range(N_WIN):
            win = ids[w * SEQLEN:(w + 1) * SEQLEN]
            lp = torch.log_softmax(model(torch.tensor([win])).logits[0].double(), -1)
            total += sum(-float(lp[t, win[t + 1]]) for t in range(SEQLEN - 1))
            n += SEQLEN - 1
        prompt = ids[:32]
        logits = model(torch.tensor([prompt])).logits[0]
    write_f32(CT / (name + ".logits.f32"), logits[LOGIT_POS])
    ref = {
        "versions": versions(),
        "how": "AutoModelForCausalLM.from_pretrained(dir, dtype=float32) on CPU",
        "checkpoint": str(mdir.relative_to(ROOT)),
        "seqlen": SEQLEN, "windows": N_WIN, "mean_nll": total / n,
        "ppl": math.exp(total / n),
        "window_ids": ids[:N_WIN * SEQLEN],
        "prompt_ids": prompt, "logits_positions": LOGIT_POS,
        "vocab": int(logits.shape[-1]),
    }
    (CT / (name + ".ref.json")).write_text(json.dumps(ref, indent=1) + "\n")
    print(f"{name}: ppl {ref['ppl']:.6f} over {N_WIN}x{SEQLEN}")


def make_awq():
    from datasets import Dataset
    from llmcompressor import oneshot
    from llmcompressor.modifiers.awq import AWQModifier
    from llmcompressor.pipelines.cache import IntermediatesCache

    if not torch.cuda.is_available():
        # llm-compressor 0.14 pins cached activations for faster GPU
        # transfers even on a CPU-only machine, where pin_memory() raises;
        # pinning changes no value, so skip it.
        IntermediatesCache._pin_intermediate = classmethod(lambda cls, v: None)

    src = DATA / "tiny-llama"
    tok = AutoTokenizer.from_pretrained(str(src))
    model = AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.float16)
    ids = wiki_ids(tok)
    calib = [ids[len(ids) - (i + 1) * SEQLEN:len(ids) - i * SEQLEN] for i in range(8)]
    ds = Dataset.from_dict({"input_ids": calib, "attention_mask": [[1] * SEQLEN] * 8})
    recipe = AWQModifier(targets=["Linear"], scheme="W4A16_ASYM", ignore=["lm_head"])
    oneshot(model=model, dataset=ds, recipe=recipe, max_seq_length=SEQLEN,
            num_calibration_samples=8)
    out = CT / "llmc-awq-w4a16-asym"
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(str(out), save_compressed=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / f, out / f)
    for junk in ("recipe.yaml",):
        if (out / junk).exists():
            (out / junk).unlink()
    measure(out, "llmc-awq-w4a16-asym")


def load_awqkit():
    mdir = CT / "awqkit-qwen2-ct"
    model = AutoModelForCausalLM.from_pretrained(str(mdir), dtype=torch.float32).eval()
    q = model.model.layers[0].self_attn.q_proj
    # the module was converted by compressed-tensors (packed parameters)
    assert hasattr(q, "weight_packed") or type(q).__name__ != "Linear", type(q)
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(0, model.config.vocab_size, (16,), generator=g).tolist()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    write_f32(CT / "awqkit-qwen2-ct.logits.f32", logits)
    ref = {"versions": versions(),
           "how": "AutoModelForCausalLM.from_pretrained(dir, dtype=float32) on CPU",
           "checkpoint": str(mdir.relative_to(ROOT)), "ids": ids,
           "vocab": int(logits.shape[-1]), "module_type": type(q).__name__}
    (CT / "awqkit-qwen2-ct.ref.json").write_text(json.dumps(ref, indent=1) + "\n")
    print("awqkit-qwen2-ct: logits of", len(ids), "positions")


def dense_from_compressed(cdir, src):
    """transformers + compressed-tensors keep NVFP4 linears compressed and
    decompress them to BF16 on every call, which a float32 model refuses;
    so decompress each linear once with the library's own compressor and
    load the weights into the dense float32 model."""
    from compressed_tensors.compressors import BaseCompressor
    from compressed_tensors.quantization import QuantizationScheme
    from safetensors.torch import load_file

    import re

    qc = json.loads((cdir / "config.json").read_text())["quantization_config"]
    groups = list(qc["config_groups"].values())

    def scheme_of(prefix):  # first group whose targets match (utils/match.py)
        for group in groups:
            for t in group["targets"]:
                if t == "Linear" or (t.startswith("re:") and re.match(t[3:], prefix)):
                    return (QuantizationScheme.model_validate(group),
                            BaseCompressor.get_value_from_registry(
                                group.get("format") or qc["format"]))
        raise ValueError(prefix)

    sd = load_file(str(cdir / "model.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.float32).eval()
    params = dict(model.named_parameters())
    prefixes = {k.rsplit(".", 1)[0] for k in sd if k.endswith("weight_scale")}
    for p in sorted(prefixes):
        local = {k[len(p) + 1:]: v for k, v in sd.items() if k.startswith(p + ".")}
        scheme, comp = scheme_of(p)
        dense = comp.decompress(local, scheme)
        params[p + ".weight"].data = dense["weight"].to(torch.float32)
    for k, v in sd.items():
        # the rest (norms, embeddings, lm_head) as stored; a quantized
        # linear's other tensors (bias) are the source's already
        if k in params and k.rsplit(".", 1)[0] not in prefixes:
            params[k].data = v.to(torch.float32)
    return model


def make_float():
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier

    src = HERE / "quant" / "fp16"
    fp8 = lambda strategy, extra: {"g": {"targets": ["Linear"], "weights": dict(
        num_bits=8, type="float", symmetric=True, dynamic=False, strategy=strategy, **extra)}}
    mixed = {"attn": {"targets": ["re:.*self_attn\\.(q|k|v|o)_proj$"], "weights": dict(
                 num_bits=8, type="int", symmetric=True, strategy="channel")},
             "mlp": {"targets": ["re:.*mlp\\."], "weights": dict(
                 num_bits=4, type="int", symmetric=False, strategy="group", group_size=32)}}
    cases = {
        "mixed-int": dict(config_groups=mixed),
        "nvfp4a16": dict(scheme="NVFP4A16"),
        "fp8-channel": dict(config_groups=fp8("channel", {})),
        "fp8-block": dict(config_groups=fp8("block", {"block_structure": [32, 32]})),
    }
    for name, kw in cases.items():
        model = AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.float16)
        oneshot(model=model, recipe=QuantizationModifier(targets="Linear", ignore=["lm_head"],
                                                         **kw))
        out = CT / ("tiny-qwen2-" + name)
        if out.exists():
            shutil.rmtree(out)
        model.save_pretrained(str(out), save_compressed=True)
        if (out / "recipe.yaml").exists():
            (out / "recipe.yaml").unlink()
        m2 = dense_from_compressed(out, src)
        g = torch.Generator().manual_seed(5)
        ids = torch.randint(0, m2.config.vocab_size, (16,), generator=g).tolist()
        with torch.no_grad():
            logits = m2(torch.tensor([ids])).logits[0]
        write_f32(CT / ("tiny-qwen2-" + name + ".logits.f32"), logits)
        ref = {"versions": versions(),
               "how": "each linear decompressed by compressed_tensors' own compressor "
                      "(BaseCompressor registry, the config group's scheme), cast to "
                      "float32, run by transformers' Qwen2ForCausalLM in float32 on CPU",
               "ids": ids, "vocab": int(logits.shape[-1])}
        (CT / ("tiny-qwen2-" + name + ".ref.json")).write_text(json.dumps(ref, indent=1) + "\n")
        print(name, "written")


def make_quant():
    import numpy as np
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
    from compressed_tensors.quantization import (QuantizationArgs, QuantizationConfig,
                                                 QuantizationScheme)
    from safetensors.numpy import load_file, save_file

    qdir = HERE / "quant"
    canon = load_file(str(qdir / "canonical.safetensors"))
    src = qdir / "awq-gemm"
    out = qdir / "compressed-tensors"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    tensors = {}
    for k, v in load_file(str(src / "model.safetensors")).items():
        if not (k.endswith(".qweight") or k.endswith(".qzeros") or k.endswith(".scales")):
            tensors[k] = v
    bits, group = 4, 32
    for k in sorted(canon):
        if not k.endswith(".q"):
            continue
        name = k[:-2]
        q = torch.from_numpy(canon[k].astype(np.int16) - 8).to(torch.int8)        # [N, K]
        z = torch.from_numpy(canon[name + ".zeros"].astype(np.int16) - 8).to(torch.int8)  # [G, N]
        sc = canon[name + ".scales"]                                             # [G, N]
        # .contiguous() as PackedQuantizationCompressor.compress does: the
        # packed_dim=0 result is a transposed view
        tensors[name + ".weight_packed"] = pack_to_int32(q, bits).contiguous().numpy()
        tensors[name + ".weight_zero_point"] = pack_to_int32(
            z.t().contiguous(), bits, packed_dim=0).contiguous().numpy()
        tensors[name + ".weight_scale"] = np.ascontiguousarray(sc.T)
        tensors[name + ".weight_shape"] = np.array(q.shape, dtype=np.int64)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(
        num_bits=bits, type="int", symmetric=False, strategy="group", group_size=group))
    qc = QuantizationConfig(config_groups={"group_0": scheme}, format="pack-quantized",
                            ignore=["lm_head"], quantization_status="compressed")
    cfg = json.loads((src / "config.json").read_text())
    cfg["quantization_config"] = json.loads(qc.model_dump_json())
    # ModelCompressor adds the version when it saves a checkpoint
    import compressed_tensors
    cfg["quantization_config"]["version"] = compressed_tensors.__version__
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    for f in src.iterdir():
        if f.name not in ("config.json", "model.safetensors"):
            shutil.copy(f, out / f.name)
    print("wrote", out)


if __name__ == "__main__":
    CT.mkdir(parents=True, exist_ok=True)
    step = sys.argv[1] if len(sys.argv) > 1 else "awq"
    if step == "awq":
        make_awq()
    elif step == "float":
        make_float()
    elif step == "quant":
        make_quant()
    elif step == "load":
        load_awqkit()
    else:
        sys.exit("usage: make_ct_fixtures.py awq|quant|float|load")
