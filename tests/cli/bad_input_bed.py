"""The bad-input matrix's test bed: stores redirected into a temporary home, inputs broken in every
way (concept folders, configs, foreign folders, a model without weights)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _concept_copy(root: Path, name: str) -> Path:
    d = root / name
    shutil.copytree(REPO / "data" / "concepts" / "harry_potter", d)
    return d


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def make_bed(root: Path, tiny_gpt2_dir: Path, planted_concept_dir: Path) -> dict[str, Path]:
    """The test bed in ``root``: a home whose stores are empty, a working folder, and inputs broken in every way."""
    home, cwd, inp = root / "home", root / "cwd", root / "inputs"
    for d in (home / "probes", cwd, inp):
        d.mkdir(parents=True)
    (home / "data").symlink_to(REPO / "data")  # read only: concepts, the bundled model
    (home / "saes").symlink_to(REPO / "saes")  # read only: the shipped SAE
    (root / "tiny-disk").mkdir()  # a 1 MiB tmpfs is mounted here for the runner, where possible
    c = inp / "concepts"
    broken = {}
    broken["no_facts"] = _concept_copy(c, "no_facts")
    (broken["no_facts"] / "facts_forget.jsonl").unlink()
    broken["empty_keywords"] = _concept_copy(c, "empty_keywords")
    _write(broken["empty_keywords"] / "keywords.txt", "\n  \n")
    broken["empty_forget"] = _concept_copy(c, "empty_forget")
    _write(broken["empty_forget"] / "forget.txt", "")
    broken["malformed_jsonl"] = _concept_copy(c, "malformed_jsonl")
    lines = (broken["malformed_jsonl"] / "facts_retain.jsonl").read_text().splitlines()
    lines[2] = '{"prompt": "The capital of France is", "answer": "Paris"'  # line 3: no closing brace
    _write(broken["malformed_jsonl"] / "facts_retain.jsonl", "\n".join(lines) + "\n")
    broken["missing_answer"] = _concept_copy(c, "missing_answer")
    lines = (broken["missing_answer"] / "facts_forget.jsonl").read_text().splitlines()
    lines[1] = '{"prompt": "Harry Potter went to school at"}'  # line 2
    _write(broken["missing_answer"] / "facts_forget.jsonl", "\n".join(lines) + "\n")
    broken["not_object"] = _concept_copy(c, "not_object")
    lines = (broken["not_object"] / "facts_forget.jsonl").read_text().splitlines()
    lines[0] = '["Harry", "Potter"]'
    _write(broken["not_object"] / "facts_forget.jsonl", "\n".join(lines) + "\n")
    broken["not_utf8"] = _concept_copy(c, "not_utf8")
    _write(broken["not_utf8"] / "other.txt", b"caf\xe9 au lait\n\xff\xfe\n")
    broken["no_keywords"] = _concept_copy(c, "no_keywords")
    (broken["no_keywords"] / "keywords.txt").unlink()

    cfg = inp / "configs"
    configs = {
        "unknown_key": {"top_k": 3, "prune_everything": True},
        "wrong_type": {"top_k": "many"},
        "bool_for_int": {"seed": True},
        "list_type": {"test_prompts": "Harry Potter is"},
        "retrain_type": {"retrain": True, "retrain_options": {"epochs": "two"}},
        "retrain_unknown": {"retrain_options": {"epochz": 2}},
        "legacy_unknown": {"base_model": "bundled", "neural_probing": {"prune_ratio": 0.1, "magic": 1}},
        "legacy_ratio": {"base_model": "bundled", "neural_probing": {"prune_ratio": "lots"}},
        "not_object": [1, 2, 3],
        "bad_dtype": {"dtype": "float64x"},
        "int_dtype": {"dtype": "int8"},
        "clamp_features": {"features": "1,2"},
        "clamp_unknown": {"mode": "zero", "bake_it": True},
    }
    files = {k: _write(cfg / f"{k}.json", json.dumps(v)) for k, v in configs.items()}
    files["malformed"] = _write(cfg / "malformed.json", '{\n  "top_k": 3,\n  "method": "probe"\n  "seed": 1\n}\n')
    files["empty"] = _write(cfg / "empty.json", "")

    foreign = inp / "foreign"
    (foreign / "empty").mkdir(parents=True)
    _write(foreign / "notes" / "README.txt", "just some folder")
    _write(foreign / "bad_stack" / "edits.json", '{"base_model": "bundled", "edits": [')
    _write(foreign / "old_stack" / "edits.json", json.dumps({"edits": []}))
    _write(foreign / "garbage_ranking" / "ranking.json", "{not json")
    # run folders relearn could attack but for their config.json (which names the concept)
    known_stack = {"base_model": "bundled", "edits": [], "plain_checkpoint": None, "known": {"facts": {"forget": [0]}}}
    _write(foreign / "run_no_config" / "edits.json", json.dumps(known_stack))
    _write(foreign / "run_bad_config" / "edits.json", json.dumps(known_stack))
    _write(foreign / "run_bad_config" / "config.json", '{"concept": ')
    _write(foreign / "garbage_model" / "config.json", "{}")
    shutil.copytree(tiny_gpt2_dir, foreign / "no_weights")
    for f in (foreign / "no_weights").glob("*.safetensors"):
        f.unlink()
    shutil.copytree(REPO / "probes" / "tiny-world-gpt2" / "harry_potter" / "probeless", foreign / "ranking_no_scores")
    (foreign / "ranking_no_scores" / "scores.safetensors").unlink()
    _write(inp / "a_file.txt", "I am a file, not a folder\n")
    exists = inp / "exists"
    _write(exists / "keep.txt", "mine")
    # a ranking computed on the bundled model (shipped), to be given to another model
    bundled_ranking = REPO / "probes" / "tiny-world-gpt2" / "harry_potter" / "probeless"
    return {
        "root": root,
        "home": home,
        "cwd": cwd,
        "inputs": inp,
        "tiny": tiny_gpt2_dir,
        "planted": planted_concept_dir,
        "tmpfs": root / "tiny-disk",
        "exists": exists,
        "bundled_ranking": bundled_ranking,
        "foreign": foreign,
        **{f"concept_{k}": v for k, v in broken.items()},
        **{f"config_{k}": v for k, v in files.items()},
    }
