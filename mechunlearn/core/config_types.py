"""Check configuration values against a dataclass's field annotations, before it is built.

A JSON config with ``"top_k": "many"`` is one error naming the key, the value and the type
wanted, instead of a ``TypeError`` from deep inside a run. Understood annotations: ``int``,
``float`` (an integer is accepted), ``bool``, ``str``, ``None``, ``Any``, unions (``X | None``),
``list[...]``, ``tuple[...]``, ``dict[str, ...]`` and ``Literal[...]``; anything else is not checked.

A choice is a ``Literal[...]`` field: ``check_values`` checks it with the rest where a config is read
(JSON, ``-o KEY=VALUE``), and ``check_choices`` from a dataclass's ``__post_init__`` checks it again
when the dataclass is built directly in Python.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from mechunlearn.core.errors import MechUnlearnError

_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}


def _args(hint) -> tuple:
    return typing.get_args(hint)


def _is_union(hint) -> bool:
    return typing.get_origin(hint) is typing.Union or isinstance(hint, types.UnionType)


def matches(value: Any, hint) -> bool:
    """Whether ``value`` (as read from JSON, or given in Python) fits the annotation ``hint``."""
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    if _is_union(hint):
        return any(matches(value, h) for h in _args(hint))
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in _args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        inner = _args(hint)
        if origin is tuple and inner and inner[-1] is not Ellipsis:
            return len(value) == len(inner) and all(matches(v, h) for v, h in zip(value, inner, strict=True))
        return not inner or all(matches(v, inner[0]) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return False
        inner = _args(hint)
        return not inner or all(matches(k, inner[0]) and matches(v, inner[1]) for k, v in value.items())
    return True  # an annotation this checker does not know: not checked


def describe(hint) -> str:
    """``int | None`` -> ``an integer or null``."""
    if _is_union(hint):
        return " or ".join(dict.fromkeys(describe(h) for h in _args(hint)))
    if hint in _NAMES:
        return _NAMES[hint]
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in _args(hint))
    if origin in (list, tuple) or hint in (list, tuple):
        inner = _args(hint)
        if not inner or inner[0] is Any:
            return "a list"
        return f"a list of {_plural(describe(inner[0]))}"
    if origin is dict or hint is dict:
        return "an object (JSON {...})"
    return getattr(hint, "__name__", str(hint))


def _plural(desc: str) -> str:
    for article in ("an ", "a "):
        if desc.startswith(article):
            return desc[len(article) :] + "s"
    return desc


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def field_hints(cls) -> dict[str, Any]:
    """The resolved annotations of a dataclass's fields (empty where they cannot be resolved)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve: check nothing rather than fail
        return {}
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name in hints}


def check_values(cls, d: dict[str, Any], what: str = "config key") -> None:
    """Raise a :class:`MechUnlearnError` naming the first key of ``d`` whose value does not fit ``cls``."""
    hints = field_hints(cls)
    for key, value in d.items():
        if key in hints and not matches(value, hints[key]):
            raise MechUnlearnError(
                f"{what} '{key}' must be {describe(hints[key])}, got {_show(value)} ({_kind(value)})"
            )


def _is_choice(hint) -> bool:
    if _is_union(hint):
        return any(_is_choice(h) for h in _args(hint))
    return typing.get_origin(hint) is typing.Literal


def check_choices(obj, what: str = "config key") -> None:
    """Like :func:`check_values` for the ``Literal[...]`` fields of the dataclass instance ``obj`` only
    (other fields are left as given: Python callers may pass e.g. a ``Path`` for a ``str``)."""
    hints = field_hints(type(obj))
    check_values(type(obj), {k: getattr(obj, k) for k, h in hints.items() if _is_choice(h)}, what)
