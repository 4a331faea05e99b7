"""Fixtures of the Python package tests (run by tools/test.sh in a venv
where `pip install .` put awqkit): the repository's data/, the console
script, and one small quantized checkpoint shared by the tests."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "data" / "tiny-llama"


@pytest.fixture(scope="session")
def tiny() -> Path:
    return TINY


@pytest.fixture(scope="session")
def cli() -> str:
    """The venv's `awqkit` console script."""
    exe = shutil.which("awqkit", path=os.path.dirname(sys.executable))
    assert exe, "the awqkit console script is not installed beside " + sys.executable
    return exe


def run_json(cli: str, *args: str, env=None) -> dict:
    import json

    r = subprocess.run([cli, *args, "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="session")
def quantized(tmp_path_factory, tiny):
    """tiny-llama quantized (AWQ, 4 calibration blocks of 64 tokens)."""
    import awqkit

    out = tmp_path_factory.mktemp("q") / "tiny-awq"
    seen = []
    res = awqkit.quantize(tiny, out, samples=4, seqlen=64,
                          progress=lambda phase, done, total: seen.append((phase, done, total)))
    return out, res, seen
