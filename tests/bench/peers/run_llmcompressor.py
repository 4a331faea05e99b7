#!/usr/bin/env python3
"""llm-compressor AWQ on a CPU, fed awqkit's calibration blocks (bench_peers.sh).

CPU fix: before each mapping's grid search AWQModifier calls
IntermediatesCache.pin_memory(), which pins the cached activations for faster
host-to-GPU copies; pinning needs an NVIDIA driver, so on a CPU-only machine
it fails. Without a GPU there is no copy to speed up, so the wrapper makes that
method a no-op (only when no CUDA device is present). Nothing else is changed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def patch_pin_memory():
    import torch
    from llmcompressor.pipelines import cache

    if torch.cuda.is_available():
        return
    cls = getattr(cache, "IntermediatesCache", None)
    if cls is not None and hasattr(cls, "pin_memory"):
        cls.pin_memory = lambda self, *a, **k: None


class Blocks:
    """Map-style dataset over the blocks that records which were fetched."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.fetched = set()

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, i):
        import torch

        self.fetched.add(i)
        ids = torch.tensor(self.blocks[i], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--calib-ids", required=True)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"),
                    help="compute dtype of the model (default float16)")
    args = ap.parse_args()

    common.set_threads(args.threads)
    ph = common.Phases("llmcompressor")
    import torch
    from torch.utils.data import DataLoader
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from llmcompressor import oneshot
    from llmcompressor.modifiers.awq import AWQModifier

    common.torch_threads(args.threads)
    if torch.cuda.is_available():
        sys.exit("run_llmcompressor.py: a GPU is visible; this benchmark compares CPU runs")
    patch_pin_memory()
    blocks = common.read_blocks(args.calib_ids, args.seqlen)
    ph.mark("import")

    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=getattr(torch, args.dtype))
    tok = AutoTokenizer.from_pretrained(args.model)
    ph.mark("load")

    # A DataLoader is used as given (no re-tokenizing, no shuffling, no
    # truncation): batch size 1, each block once, in file order.
    data = Blocks(blocks)
    loader = DataLoader(data, batch_size=1, shuffle=False)
    # The recipe of llm-compressor's AWQ example: W4A16 asymmetric, group 128,
    # its default duo scaling and grid of 20.
    recipe = [AWQModifier(ignore=["lm_head"], scheme="W4A16_ASYM", targets=["Linear"])]
    oneshot(model=model, dataset=loader, recipe=recipe,
            max_seq_length=args.seqlen, num_calibration_samples=len(blocks))
    if len(data.fetched) != len(blocks):
        sys.exit(f"run_llmcompressor.py: calibrated on {len(data.fetched)} of {len(blocks)} blocks")
    ph.mark("quantize")

    model.save_pretrained(args.out, save_compressed=True)
    tok.save_pretrained(args.out)
    ph.mark("save")
    ph.report()
    print(f"[llmcompressor] calibration: {len(blocks)} blocks x {args.seqlen} tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
