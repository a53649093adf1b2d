"""Evaluation checks, one file each, registered by name (see :mod:`.base`); every module here registers
one on import."""

import importlib
import pkgutil

from mechunlearn.evaluation.checks.base import (
    CHECKS,
    Check,
    CheckContext,
    TrainedOn,
    default_checks,
    make_checks,
    register_check,
)

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["CHECKS", "Check", "CheckContext", "TrainedOn", "default_checks", "make_checks", "register_check"]
