"""Keep named activations of one forward pass: the hooks a loss or a measurement reads from.

:mod:`.caching` streams activations of many batches into sinks; this keeps the last pass's
activations (with their graph, so a loss can train through them) in a dict by hook name.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def capture(names: list[str], store: dict[str, torch.Tensor]) -> list[tuple[str, Callable]]:
    """Forward hooks that put each named activation in ``store[name]`` (the hooked value is unchanged)."""

    def grab(name: str) -> Callable:
        def fn(act, hook):
            store[name] = act

        return fn

    return [(n, grab(n)) for n in names]
