#!/usr/bin/env python3
"""AutoAWQ 0.2.9 on a CPU, fed awqkit's calibration blocks (bench_peers.sh).

CPU fix: AwqQuantizer._compute_best_scale snapshots the block's weights with
`{k: v.cpu() for k, v in module2inspect.state_dict().items()}` and restores
them with load_state_dict after each candidate. On a GPU `.cpu()` copies; on a
CPU it returns the same tensor, so the snapshot aliases the live weights, the
candidate's in-place `fc.weight.mul_(scales)` corrupts it, and the "restore"
restores nothing. The wrapper makes module2inspect.state_dict() return clones
for the duration of that one call only, which is what the code does on a GPU.
Nothing else in AutoAWQ is changed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def patch_state_dict_snapshot():
    from awq.quantize.quantizer import AwqQuantizer

    original = AwqQuantizer._compute_best_scale

    def compute_best_scale(self, x, w_mean, x_mean, module2inspect, *args, **kwargs):
        live = module2inspect.state_dict

        def cloned(*a, **k):
            return {name: t.clone() for name, t in live(*a, **k).items()}

        module2inspect.state_dict = cloned
        try:
            return original(self, x, w_mean, x_mean, module2inspect, *args, **kwargs)
        finally:
            del module2inspect.state_dict

    AwqQuantizer._compute_best_scale = compute_best_scale


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
    ph = common.Phases("autoawq")
    import torch
    from awq import AutoAWQForCausalLM
    from transformers import AutoTokenizer

    common.torch_threads(args.threads)
    if torch.cuda.is_available():
        sys.exit("run_autoawq.py: a GPU is visible; this benchmark compares CPU runs")
    patch_state_dict_snapshot()
    blocks = common.read_blocks(args.calib_ids, args.seqlen)
    ph.mark("import")

    model = AutoAWQForCausalLM.from_pretrained(args.model, use_cache=False,
                                               torch_dtype=getattr(torch, args.dtype))
    tok = AutoTokenizer.from_pretrained(args.model)
    ph.mark("load")

    # AutoAWQ's defaults: zero point, group 128, 4 bits, GEMM, duo scaling, clip.
    quant_config = {"zero_point": True, "q_group_size": 128, "w_bit": 4, "version": "GEMM"}
    model.quantize(tok, quant_config=quant_config, calib_data=blocks,
                   max_calib_samples=len(blocks), max_calib_seq_len=args.seqlen)
    # get_calib_dataset concatenates the blocks and re-cuts them at seqlen:
    # check it kept every block unchanged in count and length.
    shape = tuple(model.quantizer.inps.shape[:2])
    if shape != (len(blocks), args.seqlen):
        sys.exit(f"run_autoawq.py: calibrated on {shape}, expected {(len(blocks), args.seqlen)}")
    ph.mark("quantize")

    model.save_quantized(args.out)
    tok.save_pretrained(args.out)
    ph.mark("save")
    ph.report()
    print(f"[autoawq] calibration: {len(blocks)} blocks x {args.seqlen} tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
