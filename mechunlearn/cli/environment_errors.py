"""Messages for what the machine refused (out of memory, disk full, other OS errors): one line
that names what was running or being written and what to try. :mod:`mechunlearn.cli.errors`
decides when a command ends with one of them."""

from __future__ import annotations

import errno
import re

from mechunlearn.core import progress

_OOM = re.compile(r"out of memory|not enough memory|(can't|cannot|unable to) allocate", re.I)


def is_out_of_memory(e: BaseException) -> bool:
    if isinstance(e, MemoryError):
        return True
    if type(e).__name__ in ("OutOfMemoryError", "OutOfResources"):
        return True
    return isinstance(e, RuntimeError) and bool(_OOM.search(str(e)))


def _asked(text: str) -> str | None:
    m = re.search(r"allocate\s+([\d.]+\s*[KMGTP]i?B)", text, re.I)
    if m:
        return m.group(1)
    m = re.search(r"allocate(?: memory)?:?\s+(?:you tried to allocate\s+)?(\d+)\s*bytes", text, re.I)
    if m:
        n = float(m.group(1))
        for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
            if n < 1024 or unit == "TiB":
                return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.2f} {unit}"
            n /= 1024
    return None


def _device_of(text: str) -> str:
    if re.search(r"CUDA|GPU \d", text):
        m = re.search(r"GPU (\d+)", text)
        return f"cuda:{m.group(1)}" if m else "the GPU"
    if "MPS" in text:
        return "mps"
    return "the CPU (main memory)"


def out_of_memory_message(e: BaseException, command: str = "the command", opts: frozenset[str] = frozenset()) -> str:
    """What was running (``command``, the stage), how much was asked, and what to try among the
    options ``opts`` the command has."""
    text = str(e)
    stage = progress.running_stage()
    doing = f"`{command}` (stage {stage})" if stage else f"`{command}`"
    asked = _asked(text)
    where = _device_of(text)
    got = f"tried to allocate {asked} on {where}" if asked else f"on {where}"
    tries = []
    if "--batch-size" in opts:
        tries.append("a smaller --batch-size")
    if "--dtype" in opts:
        tries.append("--dtype bfloat16")
    elif "--config" in opts:
        tries.append('"dtype": "bfloat16" in a --config file')
    if where != "the CPU (main memory)" and "--device" in opts:
        tries.append("--device cpu")
    tries.append("a smaller model")
    advice = ", ".join(tries[:-1]) + (" or " if len(tries) > 1 else "") + tries[-1]
    return f"out of memory while running {doing}: {got}; try {advice}"


_DISK_FULL = re.compile(r"No space left on device|Disk quota exceeded|os error (28|122)\b|StorageFull")


def disk_full(e: BaseException) -> BaseException | None:
    """The disk-full error in ``e``'s chain: an ``OSError`` (ENOSPC, EDQUOT), or a library's own
    exception saying so (safetensors raises ``SafetensorError('... No space left on device (os error 28)')``)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return e
        if _DISK_FULL.search(str(e)):
            return e
        e = e.__cause__ or e.__context__
    return None


def disk_full_message(e: BaseException) -> str:
    """Which output was being written; it was removed (staged folders are all-or-nothing)."""
    from mechunlearn.core import io

    path = getattr(e, "filename", None) or io.last_removed
    where = f" {path}" if path is not None else " the output"
    kept = " (the staged output folder was removed)" if io.last_removed is not None else ""
    return (
        f"no space left on the device while writing{where}; nothing was kept{kept}. "
        "Free some space or pass --out on another disk"
    )


def os_error_message(e: OSError) -> str:
    """Permission denied, a file in the way, ... named with the file."""
    path = e.filename if e.filename is not None else None
    where = f" {path}" if path is not None else ""
    what = e.strerror or str(e)
    if e.errno == errno.EEXIST:
        return f"cannot create the folder{where}: a file of that name is in the way; choose another --out"
    if e.errno == errno.ENOTDIR:
        return f"cannot use{where}: part of that path is a file, not a folder; choose another --out"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write or read{where}: {what}; choose a folder you can write (--out) or fix its permissions"
    return f"{what}:{where}" if where else what
