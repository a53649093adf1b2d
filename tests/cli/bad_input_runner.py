"""Run many ``mechunlearn`` command lines fast: import the library once, fork one child per case.

Each child is its own process running the console script's function (``mechunlearn.cli:main``)
with its own argv, working folder, environment, stdout and stderr files, and signal handlers;
only the imports are shared (torch + transformers + TransformerLens + sae-lens cost seconds per
process, the cases milliseconds). Used by ``tests/cli/test_bad_input.py``:

    python tests/cli/bad_input_runner.py < cases.json > results.json

Input: ``{"preload": [modules], "cases": [{"id", "args", "cwd", "env", "inject", "interrupt",
"watch"}]}``. ``inject`` makes what a test machine cannot produce at a chosen point:
``{"oom_in_stage": NAME}`` (a real 32 TiB allocation in that stage, or with ``"message"`` CUDA's
exception), ``{"enospc_on": FILENAME}``. ``interrupt`` is ``{"signal": N, "when": GLOB}``: the
signal is sent once GLOB matches (a staged folder appeared).
``watch`` lists folders whose files must not change; ``mounts`` (top level) lists folders
expected to be mount points (a tmpfs the caller mounted). Output: one result per case:
``code``, ``stdout``, ``stderr``, ``seconds``, ``changed`` (files created, removed or modified
under ``watch``), ``signalled`` (whether the interrupt was sent), ``mounted``.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import json
import os
import sys
import time
import traceback


def snapshot(roots: list[str]) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots`` (symlinks not followed) with size and mtime."""
    seen = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                seen[p] = (st.st_size if not os.path.isdir(p) else 0, st.st_mtime_ns if not os.path.isdir(p) else 0)
    return seen


def _inject(spec: dict) -> None:
    if "oom_in_stage" in spec:  # torch's own exception inside that stage: a real allocation, or CUDA's message
        import torch

        from mechunlearn.core import runs

        target, original = spec["oom_in_stage"], runs.Timer.__call__

        @contextlib.contextmanager
        def timed(self, stage):
            with original(self, stage):
                if stage == target:
                    if spec.get("message"):
                        raise torch.OutOfMemoryError(spec["message"])
                    torch.empty(1 << 45, dtype=torch.uint8)  # 32 TiB: torch's real CPU allocator failure
                yield

        runs.Timer.__call__ = timed
    if "enospc_on" in spec:  # the disk fills up while the output folder is written
        import errno

        from mechunlearn.core import io

        name, original_write = spec["enospc_on"], io.write_json

        def write_json(path, obj):
            if os.path.basename(str(path)) == name and ".partial-" in str(path):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            return original_write(path, obj)

        io.write_json = write_json
        for mod in list(sys.modules.values()):  # modules that did `from mechunlearn.core.io import write_json`
            if getattr(mod, "write_json", None) is original_write and mod is not io:
                mod.write_json = write_json


def _child(case: dict, out_path: str, err_path: str) -> None:
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    code = 1
    try:
        os.chdir(case["cwd"])
        os.environ.update(case.get("env", {}))
        _inject(case.get("inject") or {})
        sys.argv = ["mechunlearn", *case["args"]]
        from mechunlearn.cli.app import main

        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - what the console script would have printed
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run_case(case: dict, tmpdir: str) -> dict:
    watch = case.get("watch", [])
    before = snapshot(watch)
    out_path = os.path.join(tmpdir, f"{case['id']}.out")
    err_path = os.path.join(tmpdir, f"{case['id']}.err")
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _child(case, out_path, err_path)
    signalled = False
    interrupt = case.get("interrupt")
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if interrupt and not signalled and glob.glob(interrupt["when"]):
            os.kill(pid, interrupt["signal"])
            signalled = True
        if time.perf_counter() - start > case.get("timeout", 120):
            os.kill(pid, 9)
        time.sleep(0.01)
    after = snapshot(watch)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    with open(out_path, encoding="utf-8", errors="replace") as f:
        stdout = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    return {
        "id": case["id"],
        "code": os.waitstatus_to_exitcode(status),
        "stdout": stdout,
        "stderr": stderr,
        "seconds": round(time.perf_counter() - start, 3),
        "changed": changed,
        "signalled": signalled,
    }


def main() -> None:
    spec = json.load(sys.stdin)
    for name in spec.get("preload", []):
        importlib.import_module(name)
    tmpdir = spec["tmpdir"]
    mounted = [os.path.ismount(m) for m in spec.get("mounts", [])]
    results = [run_case(case, tmpdir) | {"mounted": mounted} for case in spec["cases"]]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
