"""Gradient unlearning on the hooked model: methods registered by name, one file each.

``from mechunlearn.unlearning import METHODS, make_method``; the run itself is
:func:`mechunlearn.pipeline.unlearn.unlearn`.
"""

from mechunlearn.unlearning import methods  # noqa: F401  (registration)
from mechunlearn.unlearning.base import (
    METHODS,
    Batch,
    Method,
    Outputs,
    Step,
    TrainDefaults,
    get_method,
    make_method,
    method_defaults,
    register_method,
)

__all__ = [
    "METHODS",
    "Batch",
    "Method",
    "Outputs",
    "Step",
    "TrainDefaults",
    "get_method",
    "make_method",
    "method_defaults",
    "register_method",
]
