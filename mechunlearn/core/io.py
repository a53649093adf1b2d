"""Small, careful file helpers: validated readers and all-or-nothing writers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mechunlearn.core import interrupts
from mechunlearn.core.errors import MechUnlearnError


def read_lines(path: str | Path, *, what: str = "text file") -> list[str]:
    """Return the non-blank, stripped lines of ``path``; an error if it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise MechUnlearnError(f"{what} not found: {path}")
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as e:
        raise MechUnlearnError(f"{path}: not UTF-8 text ({e})") from e
    lines = [ln for ln in lines if ln]
    if not lines:
        raise MechUnlearnError(f"{path}: the {what} is empty; it needs at least one non-blank line")
    return lines


def read_jsonl(path: str | Path, *, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Return the objects of a JSON-lines file; errors name the file and the 1-based line."""
    path = Path(path)
    if not path.is_file():
        raise MechUnlearnError(f"JSONL file not found: {path}")
    rows = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise MechUnlearnError(f"{path}:{lineno}: malformed JSON ({e.msg})") from e
        if not isinstance(obj, dict):
            raise MechUnlearnError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        missing = [k for k in required if not isinstance(obj.get(k), str) or not obj[k].strip()]
        if missing:
            raise MechUnlearnError(
                f"{path}:{lineno}: missing or empty key(s) {missing}; each line needs {list(required)}"
            )
        rows.append(obj)
    if not rows:
        raise MechUnlearnError(f"{path}: no records; it needs one JSON object per line")
    return rows


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON through a temporary file and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Write one JSON object per line through a temporary file and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_new_dir(path: str | Path) -> Path:
    """Refuse an output folder that already exists (outputs are never overwritten)."""
    path = Path(path)
    if path.exists():
        raise MechUnlearnError(
            f"output folder already exists: {path}; choose a new --out (outputs are never overwritten)"
        )
    return path


last_removed: Path | None = None  # the output folder whose staged copy was last removed


@contextlib.contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder that becomes ``final`` only if the block succeeds.

    On any error or interrupt the temporary folder (and any parent folder made for it) is
    removed, so no half-written output is left behind.
    """
    global last_removed
    final = ensure_new_dir(final)
    made = [p for p in final.parents if not p.exists()]  # parents this run creates (removed on failure)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        with interrupts.deferred():  # an interrupt is raised once the folder is known and guarded
            tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.partial-"))
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the output folder is an ordinary one
        yield tmp
        ensure_new_dir(final)
        os.replace(tmp, final)
    except BaseException:
        last_removed = final  # named by the CLI's message when the error itself names no file
        with interrupts.deferred():  # a second Ctrl-C must not leave half the folder behind
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            for p in made:  # innermost first
                with contextlib.suppress(OSError):
                    p.rmdir()
        raise
