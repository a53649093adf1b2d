"""Refuse a device or dtype this machine's torch cannot run, in the user's terms.

``check_device`` runs before a model is loaded, so ``--device cuda`` on a CPU-only torch is one
line naming the torch build and how to get a CUDA one, not torch's ``AssertionError``.
"""

from __future__ import annotations

import torch

from mechunlearn.core.errors import MechUnlearnError

DTYPES = ("float32", "float16", "bfloat16")
CUDA_HELP = (
    "install a CUDA build of torch (e.g. `pip install torch=={v} --index-url https://download.pytorch.org/whl/cu128`; "
    "pick the CUDA version your driver supports at https://pytorch.org/get-started/locally/), or use --device cpu"
)


def _torch_build() -> str:
    if getattr(torch.version, "hip", None):
        return f"torch {torch.__version__} (ROCm {torch.version.hip})"
    if torch.version.cuda:
        return f"torch {torch.__version__} (CUDA {torch.version.cuda})"
    return f"torch {torch.__version__} (a CPU-only build)"


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """``"bfloat16"`` -> ``torch.bfloat16``; an unknown or non-float dtype is an error."""
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.")
        dt = getattr(torch, name, None)
        if not isinstance(dt, torch.dtype):
            raise MechUnlearnError(f"unknown dtype '{dtype}'; use one of {list(DTYPES)}")
        dtype = dt
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        shown = str(dtype).removeprefix("torch.")
        raise MechUnlearnError(f"dtype '{shown}' cannot hold model weights; use one of {list(DTYPES)}")
    return dtype


def _check_cuda(dev: torch.device, asked: str) -> None:
    if not torch.version.cuda and not getattr(torch.version, "hip", None):
        v = torch.__version__.split("+")[0]
        raise MechUnlearnError(
            f"device '{asked}': this is {_torch_build()}, which cannot use a GPU; " + CUDA_HELP.format(v=v)
        )
    if not torch.cuda.is_available():
        raise MechUnlearnError(
            f"device '{asked}': {_torch_build()} sees no usable GPU (torch.cuda.is_available() is False); "
            "check `nvidia-smi`, the driver version and CUDA_VISIBLE_DEVICES, or use --device cpu"
        )
    n = torch.cuda.device_count()
    if dev.index is not None and dev.index >= n:
        raise MechUnlearnError(
            f"device '{asked}': only {n} GPU{'s' if n != 1 else ''} visible "
            f"({', '.join(f'cuda:{i}' for i in range(n))}); check CUDA_VISIBLE_DEVICES"
        )


def _check_mps(asked: str) -> None:
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_built():
        raise MechUnlearnError(
            f"device '{asked}': this is {_torch_build()}, built without MPS (Apple-silicon GPUs, macOS only); "
            "use --device cpu" + (" or --device cuda" if torch.cuda.is_available() else "")
        )
    if not mps.is_available():
        raise MechUnlearnError(
            f"device '{asked}': MPS is not available on this machine (it needs macOS 12.3+ on Apple silicon); "
            "use --device cpu"
        )


def check_device(device: str | torch.device | None, dtype: torch.dtype | str | None = None) -> None:
    """Raise a :class:`MechUnlearnError` unless ``device`` (and ``dtype`` on it) can run here.

    ``device=None`` means the default (CUDA if available, else CPU) and is always fine; then
    only ``dtype`` is checked. The dtype check runs a tiny matrix product on the device.
    """
    asked = str(device) if device is not None else None
    if device is None:
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise MechUnlearnError(f"unknown device '{device}'; use cpu, cuda, cuda:N (a GPU index) or mps") from None
        if dev.type == "cuda":
            _check_cuda(dev, asked)
        elif dev.type == "mps":
            _check_mps(asked)
        elif dev.type not in ("cpu", "meta"):
            backend = getattr(torch, dev.type, None)
            available = getattr(backend, "is_available", None)
            if available is None or not available():
                raise MechUnlearnError(
                    f"device '{asked}': {_torch_build()} has no usable '{dev.type}' backend; use cpu or cuda"
                )
    if dtype is None:
        return
    dt = resolve_dtype(dtype)
    if dt == torch.float32 or dev.type == "meta":
        return
    if dev.type == "cuda" and dt == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(dev)
        raise MechUnlearnError(f"dtype bfloat16: the GPU {name} cannot run it; use float16 or float32")
    try:
        a = torch.ones(4, 4, dtype=dt, device=dev)
        (a @ a).sum().item()
    except (RuntimeError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MechUnlearnError(
            f"dtype {str(dt).removeprefix('torch.')} cannot run on {dev} with {_torch_build()} ({first}); "
            f"use another dtype ({', '.join(d for d in DTYPES if d != str(dt).removeprefix('torch.'))})"
        ) from None
