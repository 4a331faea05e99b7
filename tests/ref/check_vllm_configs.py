#!/usr/bin/env python3
"""Which awqkit outputs vLLM (and SGLang) actually load: the fixture
tests/ref/vllm/accept.json read by tests/unit/test_consumers_vllm.c, which
asserts that awqkit's consumer table (lib/quant/consumers.c) gives the same
verdict.

NOT run by the build or by ctest. Run it by hand from the repository root
after building awqkit, with a Python that has vLLM installed (its own venv:
vLLM pins its own torch), and commit tests/ref/vllm/accept.json:

    python3 -m venv /work/venvs/vllm && /work/venvs/vllm/bin/pip install vllm
    LD_LIBRARY_PATH=<dir holding libcuda.so.1> \\
        /work/venvs/vllm/bin/python tests/ref/check_vllm_configs.py vllm

    (SGLang, in its own venv: ... check_vllm_configs.py sglang — adds the
    "sglang" key to the same file.)

What it does, for each case below:
  1. writes a checkpoint of data/tiny-llama with the awqkit CLI (quantize
     --method rtn with few calibration tokens: the method changes the
     numbers, not the layout or the quantization_config; repack for the
     conversions). Refused layouts are written with --allow-unservable.
  2. vLLM: ModelConfig(model=dir) — vLLM's own override logic picks the
     quantization method (awq -> auto_awq, gptq -> auto_gptq, ...) and the
     platform checks the GPU's capability; VllmConfig builds the quant
     config (get_quant_config: from_config, maybe_update_config); the
     LlamaForCausalLM is instantiated on the CPU (every linear's
     get_quant_method and create_weights run, so the scheme and the
     mixed-precision kernel vLLM chooses are recorded); then vLLM's
     DefaultModelLoader streams the safetensors through the model's own
     load_weights (names, stacking q/k/v and gate/up, shape asserts of the
     weight loaders) and its strict tracker lists quantized parameters the
     checkpoint did not fill (vLLM skips that check for quantized models by
     default, so such a checkpoint would run on uninitialised memory).
     process_weights_after_loading (the GPU repacking) and the forward are
     not run: there is no GPU here.
     "accepted" = all of the above passed; else "reason" is the first error.

The platform is patched: this machine has no GPU, so vLLM's CUDA platform is
replaced by a subclass reporting an NVIDIA H100 (compute capability 9.0); the
CUDA extension is loaded against the CUDA toolkit's stub libcuda
(LD_LIBRARY_PATH) and never called. Kernel choices are those vLLM makes on
sm_90.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/ref/vllm/accept.json"
MODEL = ROOT / "data/tiny-llama"

FAST = ["--method", "rtn", "--samples", "4", "--seqlen", "64", "--threads", "1"]

# (name, how it is made, layout as awqkit's table sees it)
#   ("q", args)            awqkit quantize data/tiny-llama args
#   ("r", src, args)       awqkit repack <case src> args
CASES = []


def q(name, fmt, bits, gs, sym, extra=()):
    args = ["--format", fmt, "--bits", str(bits), "--group-size", str(gs)]
    if sym:
        args.append("--sym")
    CASES.append({"name": name, "make": ("q", args + list(extra)),
                  "layout": {"format": fmt, "bits": bits, "group_size": gs,
                             "symmetric": sym}})


def r(name, src, fmt, extra=()):
    s = next(c for c in CASES if c["name"] == src)
    lay = dict(s["layout"])
    lay["format"] = fmt
    CASES.append({"name": name, "make": ("r", src, ["--to", fmt] + list(extra)),
                  "layout": lay})


AU = ["--allow-unservable"]
for gs in (128, 64, 32, -1):
    q(f"awq-zp-g{gs}", "awq", 4, gs, False)
q("awq-sym-g128", "awq", 4, 128, True)
q("awq-gemv-zp-g128", "awq-gemv", 4, 128, False, AU)
q("awq-gemv-sym-g128", "awq-gemv", 4, 128, True, AU)
for gs in (128, 64, 32, -1):
    q(f"gptq-sym-g{gs}", "gptq", 4, gs, True)
q("gptq-sym-8bit-g128", "gptq", 8, 128, True)
q("gptq-sym-3bit-g128", "gptq", 3, 128, True, AU)
q("gptq-asym-g128", "gptq", 4, 128, False, AU + ["--allow-lossy"])
q("gptq-v2-sym-g128", "gptq-v2", 4, 128, True)
q("gptq-v2-asym-g128", "gptq-v2", 4, 128, False, AU)
for gs in (128, 64, 32, -1):
    q(f"ct-asym-g{gs}", "compressed-tensors", 4, gs, False)
    q(f"ct-sym-g{gs}", "compressed-tensors", 4, gs, True)
q("ct-sym-8bit-g128", "compressed-tensors", 8, 128, True)
q("ct-asym-8bit-g128", "compressed-tensors", 8, 128, False)
q("ct-sym-3bit-g128", "compressed-tensors", 3, 128, True, AU)
q("ct-asym-2bit-g128", "compressed-tensors", 2, 128, False, AU)
# conversions of the default (zero-point) and --sym AWQ outputs
r("repack-awq-zp-to-gptq", "awq-zp-g128", "gptq", AU + ["--allow-lossy"])
r("repack-awq-zp-to-gptq-v2", "awq-zp-g128", "gptq-v2", AU)
r("repack-awq-zp-to-ct", "awq-zp-g128", "compressed-tensors")
r("repack-awq-zp-to-gemv", "awq-zp-g128", "awq-gemv", AU)
r("repack-awq-sym-to-gptq", "awq-sym-g128", "gptq")
r("repack-awq-sym-to-gptq-v2", "awq-sym-g128", "gptq-v2")
r("repack-awq-sym-to-ct", "awq-sym-g128", "compressed-tensors")
r("repack-ct-asym-to-awq", "ct-asym-g128", "awq")
r("repack-gptq-sym-to-ct", "gptq-sym-g128", "compressed-tensors")
# awqkit writes no 3-bit compressed-tensors (the compressed-tensors library
# packs 10 codes per word, vLLM reads a dense stream): both record the refusal
r("repack-gptq-3bit-to-ct", "gptq-sym-3bit-g128", "compressed-tensors", AU)


def make_all(awqkit, work):
    for c in CASES:
        d = work / c["name"]
        if c["make"][0] == "q":
            cmd = [awqkit, "quantize", str(MODEL), "-o", str(d), "-q", "--force",
                   "--device", "cpu"] + FAST + c["make"][1]
        else:
            cmd = [awqkit, "repack", str(work / c["make"][1]), "-o", str(d), "-q",
                   "--force"] + c["make"][2]
        shown = ["awqkit"] + [a if not a.startswith(str(work)) else
                              a[len(str(work)) + 1:] for a in cmd[1:]]
        c["command"] = " ".join(shown).replace(str(MODEL), "data/tiny-llama")
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            c["awqkit_error"] = (p.stderr.strip().splitlines() or [""])[-1].replace(
                str(work) + "/", "").replace(str(ROOT) + "/", "")
            print(f"{c['name']}: awqkit failed: {p.stderr.strip()}", file=sys.stderr)


# ----------------------------------------------------------------- vLLM

def patch_vllm_platform():
    """No GPU here: report an H100 (sm_90) so vLLM's capability checks and
    kernel choice run as on a Hopper GPU."""
    import vllm.platforms as P
    from vllm.platforms import cuda as C
    from vllm.platforms.interface import DeviceCapability

    class PatchedH100(C.CudaPlatformBase):
        @classmethod
        def get_device_capability(cls, device_id=0):
            return DeviceCapability(9, 0)

        @classmethod
        def get_device_name(cls, device_id=0):
            return "NVIDIA H100 80GB HBM3 (patched: no GPU here)"

        @classmethod
        def is_fully_connected(cls, physical_device_ids):
            return True

        @classmethod
        def get_device_total_memory(cls, device_id=0):
            return 80 << 30

    P._current_platform = PatchedH100()


def first_line(e):
    errs = getattr(e, "errors", None)  # pydantic ValidationError: the inner error
    if callable(errs):
        try:
            return f"{type(e).__name__}: {errs()[0]['msg']}"[:400]
        except Exception:  # noqa: BLE001
            pass
    s = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
    if not str(e) and e.__traceback__ is not None:
        # a bare assert: name where it fired (file and line in the engine)
        tb = e.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        f = tb.tb_frame.f_code.co_filename
        s += f" at {f[f.find('site-packages/') + 14:] if 'site-packages/' in f else f}:{tb.tb_lineno}"
    return s[:400]


def q_proj_names(d):
    """The tensor names (and shapes) awqkit wrote for layer 0's q_proj, as
    read from the safetensors header."""
    import struct
    out = {}
    for f in sorted(pathlib.Path(d).glob("*.safetensors")):
        with open(f, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            hdr = json.loads(fh.read(n))
        pre = "model.layers.0.self_attn.q_proj."
        for k, v in hdr.items():
            if k.startswith(pre):
                out[k[len(pre):]] = [v["dtype"], v["shape"]]
    return dict(sorted(out.items()))


def check_vllm_case(d):
    import torch
    from vllm.config import (DeviceConfig, LoadConfig, ModelConfig, VllmConfig,
                             set_current_vllm_config)
    from vllm.model_executor.layers.linear import LinearBase
    from vllm.model_executor.model_loader.default_loader import DefaultModelLoader
    from vllm.model_executor.models.llama import LlamaForCausalLM
    from vllm.utils.torch_utils import set_default_torch_dtype

    res = {"accepted": False}
    stage = "config"
    try:
        mc = ModelConfig(model=str(d), dtype="float16", enforce_eager=True)
        res["quantization"] = mc.quantization
        stage = "quant config"
        vc = VllmConfig(model_config=mc, load_config=LoadConfig(),
                        device_config=DeviceConfig("cpu"))
        res["config_class"] = type(vc.quant_config).__name__
        stage = "model (get_quant_method / create_weights)"
        with set_current_vllm_config(vc), set_default_torch_dtype(mc.dtype):
            m = LlamaForCausalLM(vllm_config=vc)
            linears = {}
            for n, mod in m.named_modules():
                qm = getattr(mod, "quant_method", None)
                if qm is None or not ((n.startswith("model.layers.0.") and
                                       isinstance(mod, LinearBase)) or n == "lm_head"):
                    continue
                e = {"method": type(qm).__name__}
                sch = getattr(mod, "scheme", None)
                if sch is not None:
                    e["scheme"] = type(sch).__name__
                    if getattr(sch, "quant_type", None) is not None:
                        e["type"] = str(sch.quant_type)
                k = getattr(qm, "kernel", None) or getattr(sch, "kernel", None)
                if k is not None:
                    e["kernel"] = type(k).__name__
                qt = getattr(qm, "quant_type", None)
                if qt is not None and "type" not in e:
                    e["type"] = str(qt)
                e["params"] = sorted(p for p, _ in mod.named_parameters(recurse=False))
                linears[n.split(".", 3)[-1] if n != "lm_head" else n] = e
            res["linears"] = linears
            res["checkpoint_q_proj"] = q_proj_names(d)
            stage = "weights (DefaultModelLoader + load_weights)"
            loader = DefaultModelLoader(LoadConfig())
            loaded = m.load_weights(loader.get_all_weights(mc, m))
            stage = "weights (strict tracker: quantized params filled)"
            loader.track_weights_loading(m, loaded, quantized=True)
        res["accepted"] = True
    except Exception as e:  # noqa: BLE001 - the verdict is the point
        res["stage"] = stage
        res["reason"] = first_line(e)
        if os.environ.get("CHECK_VERBOSE"):
            traceback.print_exc()
    return res


# modules_to_not_convert of a vision-language checkpoint: which spellings
# make vLLM skip the vision tower? (its Qwen2.5-VL weight-name mapper is
# applied to the list first, then AWQ's substring matcher runs on vLLM's
# module names)
SKIP_LISTS = [["model.visual"], ["visual"], ["model.visual", "visual"]]
SKIP_PREFIXES = {"visual.blocks.0.attn.qkv": True, "visual.merger.mlp.0": True,
                 "language_model.model.layers.0.self_attn.qkv_proj": False,
                 "language_model.model.layers.0.mlp.down_proj": False}


def probe_vllm_skip():
    from vllm.model_executor.layers.quantization.auto_awq import AutoAWQConfig
    from vllm.model_executor.layers.quantization.utils.quant_utils import is_layer_skipped
    from vllm.model_executor.models.qwen2_5_vl import Qwen2_5_VLForConditionalGeneration as M

    out = []
    for lst in SKIP_LISTS:
        qc = AutoAWQConfig.from_config({"quant_method": "awq", "bits": 4, "group_size": 128,
                                        "zero_point": True, "version": "gemm",
                                        "modules_to_not_convert": list(lst)})
        qc.apply_vllm_mapper(M.hf_to_vllm_mapper)
        skipped = {p: is_layer_skipped(p, qc.modules_to_not_convert, {},
                                       match_mode="substring") for p in SKIP_PREFIXES}
        out.append({"modules_to_not_convert": lst, "after_mapper": qc.modules_to_not_convert,
                    "skipped": skipped,
                    "right": all(skipped[p] == w for p, w in SKIP_PREFIXES.items())})
    return {"model": M.__name__, "cases": out}


def run_vllm(work):
    patch_vllm_platform()
    import vllm
    from vllm.config import (DeviceConfig, LoadConfig, ModelConfig, VllmConfig,
                             set_current_vllm_config)
    from vllm.distributed import init_distributed_environment, initialize_model_parallel

    base = ModelConfig(model=str(MODEL), dtype="float16", enforce_eager=True)
    vc = VllmConfig(model_config=base, load_config=LoadConfig(),
                    device_config=DeviceConfig("cpu"))
    with set_current_vllm_config(vc):
        init_distributed_environment(world_size=1, rank=0, local_rank=0,
                                     distributed_init_method="tcp://127.0.0.1:29533",
                                     backend="gloo")
        initialize_model_parallel(1, 1)
    out = {}
    for c in CASES:
        if "awqkit_error" in c:
            continue
        v = check_vllm_case(work / c["name"])
        print(f"{c['name']}: {'ACCEPT' if v['accepted'] else 'REFUSE'} "
              f"{v.get('quantization', '')} {v.get('reason', '')}", file=sys.stderr)
        out[c["name"]] = v
    skip = probe_vllm_skip()
    for e in skip["cases"]:
        print(f"skip {e['modules_to_not_convert']} -> {e['after_mapper']}: "
              f"{'right' if e['right'] else 'WRONG'}", file=sys.stderr)
    return {"version": vllm.__version__, "skip_probe": skip,
            "patched": "platform reports an NVIDIA H100 (sm_90); CUDA extension "
                       "loaded against the stub libcuda; no GPU code run"}, out


def main():
    engine = sys.argv[1] if len(sys.argv) > 1 else "vllm"
    awqkit = os.environ.get("AWQKIT", str(ROOT / "build/awqkit"))
    keep = os.environ.get("CHECK_WORK")
    work = pathlib.Path(keep or tempfile.mkdtemp(prefix="awq-vllm-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        make_all(awqkit, work)
        if engine == "vllm":
            meta, verdicts = run_vllm(work)
        elif engine == "sglang":
            sys.path.insert(0, str(pathlib.Path(__file__).parent))
            from check_sglang_configs import run_sglang
            meta, verdicts = run_sglang(work, CASES)
        else:
            sys.exit(f"usage: {sys.argv[0]} vllm|sglang")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    doc = json.loads(OUT.read_text()) if OUT.exists() else {}
    doc["made_by"] = "tests/ref/check_vllm_configs.py"
    cases = {c["name"]: c for c in doc.get("cases", [])}
    for c in CASES:
        e = cases.setdefault(c["name"], {"name": c["name"]})
        e["command"] = c.get("command", "")
        e["layout"] = c["layout"]
        if "awqkit_error" in c:
            e["awqkit_error"] = c["awqkit_error"]
            e.pop(engine, None)  # a verdict on a file awqkit no longer writes
        else:
            e.pop("awqkit_error", None)
        if c["name"] in verdicts:
            e[engine] = verdicts[c["name"]]
    doc[engine + "_meta"] = meta
    doc["cases"] = [cases[c["name"]] for c in CASES]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
