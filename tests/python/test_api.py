"""The Python API over libawqkit: results equal the CLI's --json, errors
carry awq_status, progress and cancellation go through callbacks."""
import os
import subprocess

import pytest

import awqkit
from conftest import run_json


def drop_seconds(x):
    """The JSON without its timing fields (everything else is deterministic)."""
    if isinstance(x, dict):
        return {k: drop_seconds(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [drop_seconds(v) for v in x]
    return x


def test_count_tiny(tiny):
    r = awqkit.count(str(tiny))
    assert r["logical"] == 6819072
    assert r["stored"] == r["loaded"] == r["logical"]
    assert r["quantized"]["linears"] == 0


def test_count_and_inspect_equal_cli(tiny, cli):
    for fn, cmd in ((awqkit.count, "count"), (awqkit.inspect, "inspect")):
        assert drop_seconds(fn(tiny)) == drop_seconds(run_json(cli, cmd, str(tiny))), cmd


def test_quantize_equals_cli(quantized, tiny, cli, tmp_path):
    out, res, _ = quantized
    assert res["logical_parameters"] == 6819072
    assert res["linears_packed"] > 0 and res["format"] == "awq" and res["bits"] == 4
    cli_out = tmp_path / "cli-awq"
    c = run_json(cli, "quantize", str(tiny), "-o", str(cli_out), "--samples", "4",
                 "--seqlen", "64", "--no-progress")
    c["output"] = res["output"]
    assert drop_seconds(res) == drop_seconds(c)
    a = (out / "model.safetensors").read_bytes()
    assert a == (cli_out / "model.safetensors").read_bytes()


def test_progress_callback(quantized):
    _, res, seen = quantized
    phases = {p for p, _, _ in seen}
    assert seen, "no progress reported"
    assert any(p.startswith("layer") for p in phases), phases
    assert all(isinstance(d, int) and isinstance(t, int) for _, d, t in seen)


def test_repack_and_verify(quantized, tiny, tmp_path, cli):
    out, _, _ = quantized
    g = tmp_path / "gptq"
    r = awqkit.repack(out, g, to="gptq-v2")
    assert r["lossless"] and r["to"] == "gptq-v2" and r["linears"] > 0
    v = awqkit.verify(g, against=tiny)
    assert v["ok"] and v["params_equal"] and v["logical_params"] == 6819072
    assert drop_seconds(v) == drop_seconds(run_json(cli, "verify", str(g), "--against", str(tiny)))
    back = tmp_path / "awq-again"
    awqkit.repack(g, back, to="awq", max_shard_size="5GB")
    assert (back / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()


def test_missing_model_raises(tmp_path):
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.count(tmp_path / "no-such-model")
    assert e.value.awq_status == awqkit.Status.NOT_FOUND
    assert "no-such-model" in e.value.message
    assert str(e.value) == e.value.message


def test_bad_option_names_it(tiny, tmp_path):
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.quantize(tiny, tmp_path / "x", bits=5)
    assert e.value.awq_status == awqkit.Status.INVALID_ARG
    assert "bits" in e.value.message
    assert not (tmp_path / "x").exists()
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.quantize(tiny, tmp_path / "x", screen=1.5)
    assert e.value.awq_status == awqkit.Status.INVALID_ARG
    assert "screen" in e.value.message
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.quantize(tiny, tmp_path / "x", finalists=-1)
    assert "finalists" in e.value.message
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.quantize(tiny, tmp_path / "x", race_z=-1)
    assert "race_z" in e.value.message
    assert not (tmp_path / "x").exists()
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.repack(tiny, tmp_path / "y", to="int3")
    assert "to" in e.value.message and e.value.awq_status == awqkit.Status.INVALID_ARG


def test_not_packed_repack_fails(tiny, tmp_path):
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.repack(tiny, tmp_path / "z", to="gptq")
    assert e.value.awq_status != awqkit.Status.OK
    assert not (tmp_path / "z" / "model.safetensors").exists()


def test_cancel_from_callback(tiny, tmp_path):
    out = tmp_path / "cancelled"
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.quantize(tiny, out, method="rtn", samples=2, seqlen=32,
                        progress=lambda phase, done, total: False)
    assert e.value.awq_status == awqkit.Status.CANCELLED
    assert not (out / "model.safetensors").exists()


def test_callback_exception_propagates(tiny, tmp_path):
    def boom(phase, done, total):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        awqkit.quantize(tiny, tmp_path / "boom", method="rtn", samples=2, seqlen=32,
                        progress=boom)
    assert not (tmp_path / "boom" / "model.safetensors").exists()


def test_console_script_and_version(cli):
    r = subprocess.run([cli, "--version"], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.startswith("awqkit " + awqkit.__version__)
    assert awqkit.version().startswith(awqkit.__version__)
    r = subprocess.run([cli, "count"], capture_output=True, text=True)
    assert r.returncode == 2 and "missing MODEL" in r.stderr


def test_bundled_data_in_package():
    d = awqkit.data_dir()
    assert d and os.path.isfile(os.path.join(d, "text", "calib-wikitext2-valid.jsonl.zst"))
    assert os.path.dirname(awqkit.__file__) in d
