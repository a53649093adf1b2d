"""Run folders: every command writes its outputs, full configuration and log into one folder.

The folder is staged (written under a temporary name and renamed at the end), so a failed
run leaves nothing behind, and an existing folder is never overwritten.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from mechunlearn.core import progress
from mechunlearn.core.io import staged_dir, write_json
from mechunlearn.core.paths import runs_dir


def default_out(command: str, concept: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = runs_dir() / f"{command}-{concept}-{stamp}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


class Timer:
    """Seconds per named stage: ``with timer("rank"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t = time.perf_counter()
        logging.getLogger("mechunlearn").info("stage %s ...", stage)
        progress.stage_started(stage)
        failed = False
        try:
            yield
        except BaseException:
            failed = True  # an error or interrupt names this stage (see mechunlearn.cli.errors)
            raise
        finally:
            took = time.perf_counter() - t
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + took, 3)
            progress.stage_finished(stage, took, failed=failed)


@contextlib.contextmanager
def captured_log(path: Path) -> Iterator[None]:
    """Write the ``mechunlearn`` log (INFO and above) to ``path`` while the block runs."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("mechunlearn")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


@contextlib.contextmanager
def run_folder(out: Path, config: dict) -> Iterator[Path]:
    """Stage ``out``: write ``config.json`` and capture the ``mechunlearn`` log to ``run.log``."""
    with staged_dir(out) as tmp, captured_log(tmp / "run.log"):  # refuses an existing folder
        write_json(tmp / "config.json", config)
        logging.getLogger("mechunlearn").info("configuration: %s", config)
        yield tmp
