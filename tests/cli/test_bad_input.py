"""The bad-input matrix: mistakes a user makes, run through the real entry point in processes.

Every case asserts the exit status, exactly one ``error:`` line on stderr naming the bad value,
no traceback, and that nothing was written (no file created, removed or changed in the working
folder, the stores or the inputs). Other stderr lines may only be a usage line and its help
hint (usage errors) or the one-line-per-stage progress printed off a terminal.

Three runners keep it fast:

* usage errors: the installed console script, one process each; they are answered before torch
  is imported (checked), in a fraction of a second;
* everything else: ``tests/cli/bad_input_runner.py`` imports the library once and forks one child
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
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.cli.bad_input_bed import make_bed
from tests.cli.bad_input_cases import ALL, SIG, USAGE
from tests.cli.bad_input_runner import snapshot

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "mechunlearn"
ENTRY = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "mechunlearn.cli.app"]
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
    "mechunlearn.cli.app",
    "mechunlearn.cli.errors",
    "mechunlearn.pipeline",
    "mechunlearn.pipeline.clamp",
    "mechunlearn.pipeline.rank",
    "mechunlearn.pipeline.cache",
    "mechunlearn.saes.training",
    "transformer_lens.model_bridge",
    "sae_lens",
]


@pytest.fixture(scope="module")
def bed(tmp_path_factory, tiny_gpt2_dir, planted_concept_dir) -> dict[str, Path]:
    return make_bed(tmp_path_factory.mktemp("bad-input"), tiny_gpt2_dir, planted_concept_dir)


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
        "import sys\nsys.argv = ['mechunlearn', 'prune', '--top-k', 'abc']\nfrom mechunlearn.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n"
        "    print(e.code, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=bed["cwd"], env=_env(bed), capture_output=True, text=True)
    assert p.stdout.split() == ["2", "False", "False"], p.stdout + p.stderr


# ----------------------------------------------------------------------------------------------
# 2. everything else, in processes forked from one that imported the library once


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
    assert all(re.match(r"[\w.]+(\s+\S+){2}$", ln) for ln in out[1:-1]), r["stdout"]  # metric, before, after
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
