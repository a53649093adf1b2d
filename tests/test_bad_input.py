"""The bad-input matrix: mistakes a user makes, run through the real entry point in processes.

Every case asserts the exit status, exactly one ``error:`` line on stderr naming the bad value,
no traceback, and that nothing was written (no file created, removed or changed in the working
folder, the stores or the inputs). Other stderr lines may only be a usage line and its help
hint (usage errors) or the one-line-per-stage progress printed off a terminal.

Three runners keep it fast:

* usage errors: the installed console script, one process each; they are answered before torch
  is imported (checked), in a fraction of a second;
* everything else: ``tests/bad_input_runner.py`` imports the library once and forks one child
  per case that runs ``mechunlearn.cli:main`` with its own argv, folders and stdio;
* interrupts: the console script on a real run of the bundled model, a real SIGINT / SIGTERM
  once its staged folder appears (and the same for every other command, in the forked runner).

Out-of-memory and a full disk cannot be had on demand on a test machine: the runner raises
torch's own ``OutOfMemoryError`` inside a stage, and makes the output's first file hit ENOSPC;
a full disk is also tried for real on a 1 MiB tmpfs where user namespaces allow it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.bad_input_runner import snapshot

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "mechunlearn"
ENTRY = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "mechunlearn.cli"]
# besides the one error line, stderr may hold only: a usage line and its help hint (usage errors),
# the one-line-per-stage progress printed off a terminal, and warnings the run logged before failing
OTHER_STDERR = (
    r"Usage: mechunlearn",
    r"Try 'mechunlearn",
    r"stage \S+: done in ",
    r"[\w-]+: done in ",
    r"WARNING \S+: ",
)
PRELOAD = [
    "mechunlearn.cli",
    "mechunlearn.cli_errors",
    "mechunlearn.pipeline",
    "mechunlearn.pipeline.clamp",
    "mechunlearn.pipeline.rank",
    "mechunlearn.pipeline.cache",
    "mechunlearn.saes.training",
    "transformer_lens.model_bridge",
    "sae_lens",
]
CUDA_OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which 1.06 GiB "
    "is free. Of the allocated memory 75.31 GiB is allocated by PyTorch"
)


# ----------------------------------------------------------------------------------------------
# the test bed: stores redirected into a temporary home, inputs broken in every way


def _concept_copy(root: Path, name: str) -> Path:
    d = root / name
    shutil.copytree(REPO / "data" / "concepts" / "harry_potter", d)
    return d


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


@pytest.fixture(scope="module")
def bed(tmp_path_factory, tiny_gpt2_dir, planted_concept_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-input")
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


def _env(bed) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        MECHUNLEARN_HOME=str(bed["home"]),
        MECHUNLEARN_RUNS=str(bed["cwd"] / "runs"),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.pop("MECHUNLEARN_NO_COLOR", None)
    return env


def _watch(bed) -> list[str]:
    return [str(bed["cwd"]), str(bed["home"]), str(bed["inputs"])]


def _fmt(args, bed) -> list[str]:
    return [str(a).format(**{k: str(v) for k, v in bed.items()}) for a in args]


def assert_clean_failure(result: dict, code: int, names: tuple[str, ...]) -> None:
    err = result["stderr"]
    where = f"\nargs: {result.get('args')}\nstderr:\n{err}\nstdout:\n{result['stdout']}"
    assert "Traceback" not in err and "Traceback" not in result["stdout"], where
    assert result["code"] == code, f"exit {result['code']} != {code}" + where
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, "want exactly one error line" + where
    strays = [ln for ln in lines if not ln.startswith("error: ") and not any(re.match(p, ln) for p in OTHER_STDERR)]
    assert not strays, f"unexpected stderr lines {strays}" + where
    for name in names:
        assert name in errors[0], f"the error line does not name {name!r}" + where
    assert result["changed"] == [], f"files written or changed: {result['changed']}" + where


# ----------------------------------------------------------------------------------------------
# 1. usage errors: the console script itself, answered before torch is imported

USAGE = [
    # (id, args, names the error line must contain)
    ("unknown-command", ["bogus"], ["'bogus'"]),
    ("unknown-command-close", ["prun"], ["'prun'", "did you mean 'prune'"]),
    ("unknown-option", ["prune", "--bogus-flag"], ["--bogus-flag"]),
    ("unknown-option-close", ["prune", "--top-ka", "3"], ["--top-ka", "did you mean --top-k"]),
    ("unknown-option-case", ["clamp", "--Concept", "x"], ["--Concept", "did you mean --concept"]),
    ("int-not-int", ["prune", "--top-k", "abc"], ["--top-k", "'abc'"]),
    ("int-not-int-eq", ["clamp", "--top-k=1.5"], ["--top-k", "'1.5'"]),
    ("float-not-float", ["prune", "--ratio", "half"], ["--ratio", "'half'"]),
    ("float-not-float-clamp", ["clamp", "--value", "strong"], ["--value", "'strong'"]),
    ("int-batch-size", ["cache", "--batch-size", "1.5"], ["--batch-size", "'1.5'"]),
    ("int-tokens", ["train-sae", "--tokens", "2M"], ["--tokens", "'2M'"]),
    ("missing-value", ["prune", "--concept"], ["--concept", "requires an argument"]),
    ("missing-value-evaluate", ["evaluate", "--model"], ["--model", "requires an argument"]),
    ("flag-with-value", ["prune", "--retrain=yes"], ["--retrain", "does not take a value"]),
    ("extra-argument", ["rank", "harry_potter"], ["harry_potter"]),
    ("extra-argument-concepts", ["concepts", "all"], ["all"]),
    ("unknown-option-verbose", ["evaluate", "--verbose=2"], ["--verbose"]),
]


@pytest.mark.parametrize(("case", "args", "names"), USAGE, ids=[u[0] for u in USAGE])
def test_usage_error(bed, background, case, args, names):
    """(``background`` only starts the slow runners first, so they work while these run.)"""
    cwd = bed["root"] / "usage-cwd"  # its own folder: the runner writes (and removes) staged folders in bed["cwd"]
    cwd.mkdir(exist_ok=True)
    watch = [str(cwd), str(bed["inputs"])]
    before = snapshot(watch)
    p = subprocess.run([*ENTRY, *args], cwd=cwd, env=_env(bed), capture_output=True, text=True, timeout=60)
    changed = _changed(before, snapshot(watch))
    result = {"args": args, "code": p.returncode, "stdout": p.stdout, "stderr": p.stderr, "changed": changed}
    assert_clean_failure(result, 2, tuple(names))
    sub = args[0] if args[0] in {"prune", "clamp", "cache", "rank", "evaluate", "train-sae", "concepts"} else None
    usage = [ln for ln in p.stderr.splitlines() if ln.startswith("Usage: ")]
    assert usage == [f"Usage: mechunlearn {sub} [OPTIONS]" if sub else "Usage: mechunlearn [OPTIONS] COMMAND [ARGS]..."]


def test_usage_errors_answer_before_torch_is_imported(bed):
    code = (
        "import sys\nsys.argv = ['mechunlearn', 'prune', '--top-k', 'abc']\nfrom mechunlearn.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n"
        "    print(e.code, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=bed["cwd"], env=_env(bed), capture_output=True, text=True)
    assert p.stdout.split() == ["2", "False", "False"], p.stdout + p.stderr


# ----------------------------------------------------------------------------------------------
# 2. everything else, in processes forked from one that imported the library once

OUT = "{cwd}/never"  # every case's --out: must not exist afterwards
F = "{foreign}"
RUNNER = [
    # (id, args, exit, names; optional dict: inject / interrupt)
    # -- bad paths
    ("model-missing", ["evaluate", "--model", "/nonexistent/model"], 2, ["/nonexistent/model"]),
    ("model-no-config", ["prune", "--model", F + "/empty", "--out", OUT], 2, ["/empty", "config.json"]),
    ("model-garbage-config", ["evaluate", "--model", F + "/garbage_model"], 2, ["garbage_model"]),
    ("model-no-weights", ["cache", "--model", F + "/no_weights", "--out", OUT], 2, ["no_weights"]),
    ("model-is-a-concept", ["rank", "--model", "{concept_no_facts}", "--out", OUT], 2, ["no_facts", "config.json"]),
    ("config-missing", ["prune", "--config", "/nonexistent/c.json"], 2, ["/nonexistent/c.json"]),
    ("config-is-a-folder", ["clamp", "--config", F + "/empty"], 2, ["/empty"]),
    ("ranking-missing", ["prune", "--ranking", "/nonexistent/ranking", "--out", OUT], 2, ["/nonexistent/ranking"]),
    ("from-missing", ["clamp", "--from", "/nonexistent/run", "--out", OUT], 2, ["/nonexistent/run"]),
    ("sae-missing", ["clamp", "--sae", "/nonexistent/sae", "--out", OUT], 2, ["/nonexistent/sae"]),
    ("corpus-missing", ["train-sae", "--corpus", "/nonexistent/corpus.txt", "--out", OUT], 2, ["corpus.txt"]),
    ("out-under-a-file", ["prune", "--out", "{inputs}/a_file.txt/run"], 1, ["a_file.txt"]),
    # -- unknown names (values outside the valid set)
    ("concept-unknown", ["prune", "--concept", "no_such_concept", "--out", OUT], 2, ["'no_such_concept'"]),
    ("concept-unknown-eval", ["evaluate", "--concept", "voldemort"], 2, ["'voldemort'"]),
    ("method-unknown", ["prune", "--method", "magic", "--out", OUT], 2, ["'magic'"]),
    ("method-unknown-rank", ["rank", "--method", "telepathy", "--out", OUT], 2, ["'telepathy'"]),
    ("method-unknown-clamp", ["clamp", "--concept", "{planted}", "--method", "sae-x", "--out", OUT], 2, ["'sae-x'"]),
    ("ablation-unknown", ["prune", "--ablation", "half", "--out", OUT], 2, ["'half'"]),
    ("clamp-mode-unknown", ["clamp", "--mode", "soft", "--out", OUT], 2, ["'soft'"]),
    ("value-kind-unknown", ["clamp", "--value-kind", "percent", "--out", OUT], 2, ["'percent'"]),
    ("architecture-unknown", ["train-sae", "--architecture", "gated-ish", "--out", OUT], 2, ["'gated-ish'"]),
    ("sae-hook-unknown", ["train-sae", "--hook", "blocks.7.hook_resid_pre", "--out", OUT], 2, ["blocks.7"]),
    ("hook-unknown", ["cache", "--hook", "blocks.9.nothing", "--out", OUT], 2, ["blocks.9.nothing"]),
    ("rank-option-unknown", ["rank", "-o", "lambda_l3=1", "--out", OUT], 2, ["lambda_l3"]),
    ("rank-option-no-equals", ["rank", "-o", "lambda_l1", "--out", OUT], 2, ["'lambda_l1'"]),
    ("rank-option-wrong-type", ["rank", "-o", "lambda_l1=abc", "--out", OUT], 2, ["lambda_l1", '"abc"']),
    ("device-cuda-cpu-torch", ["prune", "--device", "cuda", "--out", OUT], 2, ["'cuda'", "pip install torch"]),
    ("device-mps", ["evaluate", "--device", "mps"], 2, ["'mps'"]),
    ("device-unknown", ["cache", "--device", "gpu0", "--out", OUT], 2, ["'gpu0'"]),
    # -- out-of-range numbers
    ("ratio-above-1", ["prune", "--ratio", "1.5", "--out", OUT], 2, ["1.5"]),
    ("ratio-zero", ["prune", "--ratio", "0", "--out", OUT], 2, ["ratio", "0"]),
    ("top-k-zero", ["prune", "--top-k", "0", "--out", OUT], 2, ["top_k", "0"]),
    ("top-k-too-large", ["prune", "--top-k", "100000", "--out", OUT], 2, ["100000", "4096"]),
    ("clamp-top-k-negative", ["clamp", "--top-k", "-3", "--out", OUT], 2, ["-3"]),
    ("clamp-feature-out-of-range", ["clamp", "--features", "1,99999", "--out", OUT], 2, ["99999"]),
    ("clamp-feature-not-int", ["clamp", "--features", "1,x", "--out", OUT], 2, ["'1,x'"]),
    ("top-k-and-ratio", ["prune", "--top-k", "5", "--ratio", "0.1", "--out", OUT], 2, ["top_k", "ratio"]),
    # -- bad concept folders
    ("concept-missing-file", ["prune", "--concept", "{concept_no_facts}", "--out", OUT], 2, ["facts_forget.jsonl"]),
    ("concept-empty-keywords", ["rank", "--concept", "{concept_empty_keywords}", "--out", OUT], 2, ["keywords.txt"]),
    ("concept-empty-corpus", ["prune", "--concept", "{concept_empty_forget}", "--out", OUT], 2, ["forget.txt"]),
    (
        "concept-malformed-jsonl",
        ["prune", "--concept", "{concept_malformed_jsonl}", "--out", OUT],
        2,
        ["facts_retain.jsonl:3"],
    ),  # fmt: skip
    ("concept-missing-key", ["prune", "--concept", "{concept_missing_answer}", "--out", OUT], 2, ["jsonl:2", "answer"]),
    ("concept-not-object", ["clamp", "--concept", "{concept_not_object}", "--out", OUT], 2, ["jsonl:1", "list"]),
    ("concept-not-utf8", ["prune", "--concept", "{concept_not_utf8}", "--out", OUT], 2, ["other.txt", "UTF-8"]),
    ("concept-no-keywords", ["prune", "--concept", "{concept_no_keywords}", "--out", OUT], 2, ["no_keywords"]),
    # -- bad config files
    ("config-unknown-key", ["prune", "--config", "{config_unknown_key}"], 2, ["prune_everything"]),
    ("config-wrong-type", ["prune", "--config", "{config_wrong_type}"], 2, ["top_k", '"many"', "integer"]),
    ("config-bool-for-int", ["prune", "--config", "{config_bool_for_int}"], 2, ["seed", "true", "integer"]),
    ("config-str-for-list", ["prune", "--config", "{config_list_type}"], 2, ["test_prompts", "list"]),
    ("config-retrain-type", ["prune", "--config", "{config_retrain_type}"], 2, ["epochs", '"two"']),
    ("config-retrain-unknown", ["prune", "--config", "{config_retrain_unknown}"], 2, ["epochz"]),
    ("config-legacy-unknown", ["prune", "--config", "{config_legacy_unknown}"], 2, ["magic", "neural_probing"]),
    ("config-legacy-ratio", ["prune", "--config", "{config_legacy_ratio}"], 2, ["prune_ratio", '"lots"']),
    ("config-malformed", ["prune", "--config", "{config_malformed}"], 2, ["malformed.json:4"]),
    ("config-empty", ["clamp", "--config", "{config_empty}"], 2, ["empty.json"]),
    ("config-not-object", ["prune", "--config", "{config_not_object}"], 2, ["not_object.json", "object"]),
    ("config-dtype-unknown", ["prune", "--config", "{config_bad_dtype}", "--out", OUT], 2, ["'float64x'"]),
    ("config-dtype-int", ["prune", "--config", "{config_int_dtype}", "--out", OUT], 2, ["'int8'"]),
    ("config-clamp-type", ["clamp", "--config", "{config_clamp_features}"], 2, ["features", '"1,2"']),
    ("config-clamp-unknown", ["clamp", "--config", "{config_clamp_unknown}"], 2, ["bake_it"]),
    # -- existing outputs (never overwritten)
    ("out-exists-prune", ["prune", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("out-exists-clamp", ["clamp", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("out-exists-rank", ["rank", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("out-exists-cache", ["cache", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("out-exists-train-sae", ["train-sae", "--out", "{exists}"], 2, ["exists", "already exists"]),
    # -- foreign folders given to --from / --ranking / --sae
    ("from-plain-folder", ["prune", "--from", F + "/notes", "--out", OUT], 2, ["notes", "edits.json"]),
    ("from-malformed-stack", ["clamp", "--from", F + "/bad_stack", "--out", OUT], 2, ["edits.json:1"]),
    ("from-old-stack", ["prune", "--from", F + "/old_stack", "--out", OUT], 2, ["edits.json", "base_model"]),
    ("from-and-model", ["prune", "--from", F + "/notes", "--model", "bundled", "--out", OUT], 2, ["--from"]),
    ("ranking-plain-folder", ["prune", "--ranking", F + "/notes", "--out", OUT], 2, ["notes"]),
    ("ranking-garbage", ["prune", "--ranking", F + "/garbage_ranking", "--out", OUT], 2, ["garbage_ranking"]),
    (
        "ranking-other-model",
        ["prune", "--model", "{tiny}", "--concept", "{planted}", "--ranking", "{bundled_ranking}", "--top-k", "4"]
        + ["--out", OUT],
        2,
        ["tiny-world-gpt2"],
    ),
    ("ranking-no-scores", ["prune", "--ranking", F + "/ranking_no_scores", "--out", OUT], 2, ["ranking_no_scores"]),
    ("sae-plain-folder", ["clamp", "--sae", F + "/notes", "--out", OUT], 2, ["notes"]),
    ("sae-is-a-model", ["clamp", "--sae", "{tiny}", "--out", OUT], 2, ["gpt2-only"]),
    ("sae-wrong-model", ["clamp", "--model", "{tiny}", "--out", OUT], 2, ["SAE"]),
    # -- unlearn / filter / relearn
    ("unlearn-method-unknown", ["unlearn", "--method", "forgetful", "--out", OUT], 2, ["'forgetful'", "npo", "rmu"]),
    (
        "unlearn-option-of-another",
        ["unlearn", "--method", "ga", "-o", "beta=0.1", "--out", OUT],
        2,
        ["beta", "'ga'", "npo"],
    ),
    ("unlearn-option-unknown", ["unlearn", "-o", "betta=0.1", "--out", OUT], 2, ["betta", "valid"]),
    ("unlearn-option-type", ["unlearn", "-o", "beta=strong", "--out", OUT], 2, ["beta", '"strong"']),
    ("unlearn-retain-loss", ["unlearn", "-o", "retain_loss=mse", "--out", OUT], 2, ["retain_loss", "'mse'", "kl"]),
    ("unlearn-lr-zero", ["unlearn", "--lr", "0", "--out", OUT], 2, ["lr", "0"]),
    ("unlearn-lr-negative", ["unlearn", "--lr", "-1e-5", "--out", OUT], 2, ["lr", "-1e-05"]),
    ("unlearn-steps-zero", ["unlearn", "--steps", "0", "--out", OUT], 2, ["steps", "0"]),
    (
        "unlearn-steps-and-epochs",
        ["unlearn", "--steps", "3", "--epochs", "1", "--out", OUT],
        2,
        ["--steps", "--epochs"],
    ),
    ("unlearn-lora-target", ["unlearn", "--lora", "targets=q_proj", "--out", OUT], 2, ["q_proj", "c_fc"]),
    ("unlearn-lora-bad-spec", ["unlearn", "--lora", "rank=8", "--out", OUT], 2, ["rank=8", "r=INT"]),
    ("unlearn-lora-and-localize", ["unlearn", "--lora", "--localize", "8", "--out", OUT], 2, ["--lora", "--localize"]),
    (
        "unlearn-localize-from-folder",
        ["unlearn", "--localize-from", F + "/notes", "--out", OUT],
        2,
        ["notes", "ranking"],
    ),
    ("unlearn-localize-too-large", ["unlearn", "--localize", "100000", "--out", OUT], 2, ["100000", "4096"]),
    ("unlearn-localize-zero", ["unlearn", "--localize", "0", "--out", OUT], 2, ["--localize", "0"]),
    ("unlearn-mixed-precision", ["unlearn", "--mixed-precision", "fp8", "--out", OUT], 2, ["'fp8'", "bf16"]),
    ("unlearn-forget-data-missing", ["unlearn", "--forget-data", "/nonexistent/f.txt", "--out", OUT], 2, ["f.txt"]),
    (
        "unlearn-forget-data-type",
        ["unlearn", "--forget-data", "{config_empty}", "--out", OUT],
        2,
        ["'.json'", ".jsonl"],
    ),
    ("unlearn-from-plain-folder", ["unlearn", "--from", F + "/notes", "--out", OUT], 2, ["notes", "edits.json"]),
    ("out-exists-unlearn", ["unlearn", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("filter-input-missing", ["filter", "/nonexistent/in.txt", "{cwd}/never.txt"], 2, ["/nonexistent/in.txt"]),
    ("filter-output-exists", ["filter", "{inputs}/a_file.txt", "{exists}"], 2, ["exists", "already exists"]),
    ("filter-input-type", ["filter", "{config_empty}", "{cwd}/never.json"], 2, ["empty.json", ".jsonl"]),
    (
        "filter-concept-unknown",
        ["filter", "--concept", "voldemort", "{inputs}/a_file.txt", "{cwd}/n.txt"],
        2,
        ["'voldemort'"],
    ),
    (
        "filter-threshold-not-probability",
        ["filter", "--probe", "--threshold", "1.5", "{inputs}/a_file.txt", "{cwd}/n.txt"],
        2,
        ["1.5", "between 0 and 1"],
    ),
    (
        "filter-model-without-probe",
        ["filter", "--model", "gemma-3-270m", "{inputs}/a_file.txt", "{cwd}/n.txt"],
        2,
        ["gemma-3-270m", "--probe"],
    ),
    ("relearn-not-a-run", ["relearn", F + "/notes", "--out", OUT], 2, ["notes", "edits.json"]),
    ("relearn-split-unknown", ["relearn", F + "/notes", "--split", "thirds"], 2, ["'thirds'", "half"]),
    ("relearn-steps-zero", ["relearn", F + "/notes", "--steps", "0"], 2, ["steps", "0"]),
    ("relearn-lr-zero", ["relearn", F + "/notes", "--lr", "1e-5", "--lr", "0"], 2, ["lr", "0"]),
]
ENVIRONMENT = [
    (
        "out-of-memory",
        ["prune", "--model", "{tiny}", "--concept", "{planted}", "--top-k", "2", "--out", OUT],
        1,
        ["out of memory", "evaluate_before", "2.00 GiB", "cuda:0", "bfloat16", "--device cpu"],
        {"inject": {"oom_in_stage": "evaluate_before", "message": CUDA_OOM}},
    ),
    (
        "out-of-memory-cpu",
        ["prune", "--model", "{tiny}", "--concept", "{planted}", "--top-k", "4", "--out", OUT],
        1,
        ["out of memory", "`prune` (stage rank)", "32.00 TiB", "the CPU", "bfloat16"],
        {"inject": {"oom_in_stage": "rank"}},
    ),
    (
        "disk-full",
        ["prune", "--model", "{tiny}", "--concept", "harry_potter", "--top-k", "4", "--out", OUT],
        1,
        ["no space left", "config.json", "removed"],
        {"inject": {"enospc_on": "config.json"}},
    ),
    (  # for real: the 1 MiB tmpfs fills up while the model is written (safetensors' own error)
        "disk-full-tmpfs",
        ["prune", "--concept", "{planted}", "--ranking", "{bundled_ranking}", "--top-k", "8", "--out", "{tmpfs}/run"],
        1,
        ["no space left", "{tmpfs}/run", "removed"],
        {"tmpfs": True},
    ),
]
SIG = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
INTERRUPTS = [
    (
        f"interrupt-{cmd}-{name}",
        [cmd, *extra, "--out", "{cwd}/int-" + cmd],
        128 + int(sig),
        [name],
        {"interrupt": {"signal": int(sig), "when": "{cwd}/.int-" + cmd + ".partial-*"}},
    )
    for cmd, extra, name, sig in [
        ("prune", ["--model", "{tiny}", "--concept", "harry_potter", "--ratio", "0.1"], "SIGINT", SIG["SIGINT"]),
        ("clamp", [], "SIGTERM", SIG["SIGTERM"]),
        ("rank", ["--method", "probeless"], "SIGINT", SIG["SIGINT"]),
        ("cache", ["--to-disk"], "SIGTERM", SIG["SIGTERM"]),
        ("unlearn", ["--steps", "400"], "SIGINT", SIG["SIGINT"]),
        ("train-sae", ["--tokens", "400000"], "SIGINT", SIG["SIGINT"]),
    ]
]
ALL = [(*c, {}) if len(c) == 4 else c for c in RUNNER] + ENVIRONMENT + INTERRUPTS


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _userns() -> bool:
    """Whether this machine lets an unprivileged process mount a tmpfs in its own namespaces."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


def _partial(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.partial-*"))


@pytest.fixture(scope="module")
def background(bed, tmp_path_factory):
    """Start the slow parts at once, so they overlap: the forked runner with every case, and two
    real runs of the console script that a watcher thread signals once their staged folders appear."""
    io = tmp_path_factory.mktemp("runner-io")
    cases = []
    for case_id, args, _, _, extra in ALL:
        case = {
            "id": case_id,
            "args": _fmt(args, bed),
            "cwd": str(bed["cwd"]),
            "env": {"MECHUNLEARN_HOME": str(bed["home"]), "MECHUNLEARN_RUNS": str(bed["cwd"] / "runs")},
            "watch": _watch(bed) + ([str(bed["tmpfs"])] if extra.get("tmpfs") else []),
        }
        for key in ("inject", "interrupt"):
            if key in extra:
                case[key] = {k: _fmt([v], bed)[0] if isinstance(v, str) else v for k, v in extra[key].items()}
        cases.append(case)
    ok_home = bed["root"] / "ok-home"  # successful runs (output modes) write their ranking store here
    (ok_home / "probes").mkdir(parents=True)
    (ok_home / "data").symlink_to(REPO / "data")
    for case_id, flags in OUTPUT_CASES:
        args = ["prune", *flags, "--model", "{tiny}", "--concept", "{planted}", "--method", "probeless"]
        args += ["--top-k", "4", "--out", "{root}/" + case_id]
        cases.append(
            {"id": case_id, "args": _fmt(args, bed), "cwd": str(bed["root"]), "env": {"MECHUNLEARN_HOME": str(ok_home)}}
        )
    spec = {"preload": PRELOAD, "tmpdir": str(io), "cases": cases, "mounts": [str(bed["tmpfs"])]}
    (io / "spec.json").write_text(json.dumps(spec))
    runner = [sys.executable, str(Path(__file__).with_name("bad_input_runner.py"))]
    if _userns():  # the runner in its own user + mount namespace, a 1 MiB tmpfs at bed["tmpfs"]
        mount = f'mount -t tmpfs -o size=1m none "{bed["tmpfs"]}" 2>/dev/null; exec "$0" "$@"'
        runner = ["unshare", "-rm", "sh", "-c", mount, *runner]
    with open(io / "spec.json") as stdin, open(io / "results.json", "w") as stdout, open(io / "stderr", "w") as err:
        proc = subprocess.Popen(runner, stdin=stdin, stdout=stdout, stderr=err, cwd=bed["cwd"], env=_env(bed))

    # the console script, a real run on the bundled model, a real signal; its own folders
    console = {"cwd": bed["root"] / "console-cwd", "home": bed["root"] / "console-home"}
    (console["home"] / "probes").mkdir(parents=True)
    console["cwd"].mkdir()
    (console["home"] / "data").symlink_to(REPO / "data")
    env = _env(bed) | {"MECHUNLEARN_HOME": str(console["home"]), "MECHUNLEARN_RUNS": str(console["cwd"] / "runs")}
    console["before"] = snapshot([str(console["cwd"]), str(console["home"])])
    console["runs"] = {}
    for name in ("SIGINT", "SIGTERM"):
        out = console["cwd"] / f"run-{name}"
        args = [*ENTRY, "prune", "--concept", "harry_potter", "--method", "probeless", "--out", str(out)]
        files = (open(io / f"console-{name}.out", "w"), open(io / f"console-{name}.err", "w"))  # noqa: SIM115
        p = subprocess.Popen(args, cwd=console["cwd"], env=env, stdout=files[0], stderr=files[1])
        console["runs"][name] = {"proc": p, "out": out, "signalled": False, "files": files, "args": args}

    def watch():
        deadline = time.monotonic() + 240
        runs = console["runs"]
        while time.monotonic() < deadline and any(
            not r["signalled"] and r["proc"].poll() is None for r in runs.values()
        ):
            for name, r in runs.items():
                if not r["signalled"] and r["proc"].poll() is None and _partial(r["out"]):
                    r["proc"].send_signal(SIG[name])
                    r["signalled"] = True
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield {"runner": proc, "io": io, "console": console, "watcher": watcher}
    for p in [proc, *(r["proc"] for r in console["runs"].values())]:
        if p.poll() is None:
            p.kill()


@pytest.fixture(scope="module")
def runner_results(background) -> dict[str, dict]:
    proc, io = background["runner"], background["io"]
    proc.wait(timeout=300)
    assert proc.returncode == 0, (io / "stderr").read_text()[-3000:]
    spec = json.loads((io / "spec.json").read_text())
    results = json.loads((io / "results.json").read_text())
    return {r["id"]: r | {"args": c["args"]} for r, c in zip(results, spec["cases"], strict=True)}


# ----------------------------------------------------------------------------------------------
# output off a terminal (the runner's children write to files): stage lines, no redraws; --quiet

OUTPUT_CASES = [("ok-off-terminal", []), ("ok-quiet", ["--quiet"])]
STAGES = ["load", "evaluate_before", "rank", "evaluate_after", "export", "plots"]


def test_off_a_terminal_each_stage_is_one_line(runner_results, bed):
    r = runner_results["ok-off-terminal"]
    assert r["code"] == 0, r["stderr"]
    assert "\r" not in r["stderr"] + r["stdout"], "progress-bar redraws in a log"
    lines = r["stderr"].splitlines()
    for stage in STAGES:
        assert sum(bool(re.fullmatch(rf"stage {stage}: done in \d+\.\d s", ln)) for ln in lines) == 1, r["stderr"]
    assert re.fullmatch(r"prune: done in \d+\.\d s", lines[-1]), r["stderr"]
    assert len(r["stderr"]) < 3000 and "forget_ppl" in r["stdout"] and "pruned 4 neurons" in r["stdout"]
    log = (bed["root"] / "ok-off-terminal" / "run.log").read_text()
    assert all(f"stage {s} done in" in log for s in STAGES if s != "load")  # load ends before run.log opens


def test_quiet_prints_only_the_table_and_the_output_path(runner_results, bed):
    r = runner_results["ok-quiet"]
    assert r["code"] == 0, r["stderr"]
    assert r["stderr"] == ""
    out = r["stdout"].strip().splitlines()
    assert out[0].startswith("metric") and out[-1] == f"wrote {bed['root'] / 'ok-quiet'}"
    assert all(re.match(r"\w+(\s+\S+){2}$", ln) for ln in out[1:-1]), r["stdout"]  # metric, before, after
    log = (bed["root"] / "ok-quiet" / "run.log").read_text()
    assert all(f"stage {s} done in" in log for s in STAGES if s != "load")  # run.log is complete either way


@pytest.mark.parametrize(("case", "args", "code", "names", "extra"), ALL, ids=[c[0] for c in ALL])
def test_bad_input(runner_results, bed, case, args, code, names, extra):
    result = runner_results[case]
    if extra.get("tmpfs") and not result["mounted"][0]:
        pytest.skip("no tmpfs could be mounted (no user namespaces here); the simulated disk-full case covers it")
    if "interrupt" in extra:
        assert result["signalled"], "the run ended before its staged folder was seen\n" + result["stderr"]
    assert_clean_failure(result, code, tuple(_fmt(names, bed)))


def test_the_matrix_is_large_and_distinct():
    ids = [u[0] for u in USAGE] + [c[0] for c in ALL] + ["interrupt-console-SIGINT", "interrupt-console-SIGTERM"]
    assert len(ids) == len(set(ids)) >= 40
    argvs = [tuple(u[1]) for u in USAGE] + [tuple(c[1]) for c in ALL if not c[4]]
    assert len(argvs) == len(set(argvs))  # no command line counted twice


# ----------------------------------------------------------------------------------------------
# 3. a real run of the console script, a real signal


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_interrupting_the_console_script_leaves_nothing(background, name):
    """SIGINT / SIGTERM in the middle of `mechunlearn prune` on the bundled model: 130 / 143, nothing left."""
    console, io = background["console"], background["io"]
    background["watcher"].join(timeout=240)
    run = console["runs"][name]
    run["proc"].wait(timeout=120)
    for f in run["files"]:
        f.close()
    result = {
        "args": run["args"],
        "code": run["proc"].returncode,
        "stdout": (io / f"console-{name}.out").read_text(),
        "stderr": (io / f"console-{name}.err").read_text(),
        "changed": [],
    }
    assert run["signalled"], "the run ended before its staged folder appeared:\n" + result["stderr"]
    assert_clean_failure(result, 128 + int(SIG[name]), (name,))
    assert not run["out"].exists() and not _partial(run["out"])
    if all(r["proc"].poll() is not None for r in console["runs"].values()):
        after = snapshot([str(console["cwd"]), str(console["home"])])
        assert _changed(console["before"], after) == []
