"""Hub ids org/name[@revision] resolved from a Hugging Face cache laid out
here as huggingface_hub lays it out (blobs + snapshot symlinks + refs)."""
import hashlib
import os
import subprocess

import pytest

import awqkit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def make_cache(hub, tiny, org="acme", name="tiny-llama"):
    repo = hub / f"models--{org}--{name}"
    (repo / "blobs").mkdir(parents=True)
    for commit in (COMMIT, OTHER):
        (repo / "snapshots" / commit).mkdir(parents=True)
    files = ["config.json", "model.safetensors", "tokenizer.json"]
    for f in files:
        data = (tiny / f).read_bytes()
        blob = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / blob).write_bytes(data)
        os.symlink(f"../../blobs/{blob}", repo / "snapshots" / COMMIT / f)
    # the other snapshot: config only (an incomplete older revision)
    os.symlink(f"../../blobs/{hashlib.sha256((tiny / 'config.json').read_bytes()).hexdigest()}",
               repo / "snapshots" / OTHER / "config.json")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "refs" / "v1").write_text(COMMIT + "\n")
    return repo


@pytest.fixture
def hub(tmp_path, tiny, monkeypatch):
    hub = tmp_path / "hf" / "hub"
    repo = make_cache(hub, tiny)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.chdir(tmp_path)  # "acme/tiny-llama" must not exist as a path
    return repo


def test_resolve_main_tag_and_commit(hub):
    snap = str(hub / "snapshots" / COMMIT)
    assert awqkit.resolve_model("acme/tiny-llama") == snap
    assert awqkit.resolve_model("acme/tiny-llama@v1") == snap
    assert awqkit.resolve_model(f"acme/tiny-llama@{COMMIT}") == snap
    assert awqkit.count("acme/tiny-llama")["logical"] == 6819072


def test_hf_home(hub, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert awqkit.inspect("acme/tiny-llama")["kind"] == "fp16"


def test_default_home_cache(hub, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    os.symlink(tmp_path / "hf", home / ".cache" / "huggingface")
    monkeypatch.setenv("HOME", str(home))
    assert awqkit.count("acme/tiny-llama")["logical"] == 6819072


def test_missing_says_how_to_download(hub):
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.count("acme/other-model")
    assert e.value.awq_status == awqkit.Status.NOT_FOUND
    assert "hf download acme/other-model" in e.value.message
    assert "huggingface-cli download acme/other-model" in e.value.message
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.count("acme/tiny-llama@no-such-branch")
    assert "--revision no-such-branch" in e.value.message


def test_incomplete_snapshot_is_reported(hub):
    with pytest.raises(awqkit.AwqError) as e:
        awqkit.count(f"acme/tiny-llama@{OTHER}")
    assert "model.safetensors" in e.value.message or "weights" in e.value.message.lower()


def test_local_path_wins(hub, tmp_path, tiny):
    local = tmp_path / "acme"
    local.mkdir()
    os.symlink(tiny, local / "tiny-llama")
    assert awqkit.resolve_model("acme/tiny-llama") == "acme/tiny-llama"


def test_cli_takes_hub_ids(hub, cli):
    env = dict(os.environ)
    r = subprocess.run([cli, "count", "acme/tiny-llama", "--json"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert '"logical":\t6819072' in r.stdout
    r = subprocess.run([cli, "inspect", "acme/nope"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "hf download acme/nope" in r.stderr
