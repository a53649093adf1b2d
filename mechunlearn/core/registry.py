"""One registry for everything chosen by name: unlearning methods, rankings, feature rankings, edits.

A registry maps a name to an implementation and, where it has options, their config dataclass::

    RANKERS = Registry("ranking method")

    @RANKERS.register("probe", ProbeConfig)
    def probe(model, concept, cfg): ...

    cfg = RANKERS.build_config("probe", {"lambda_l1": 0.01})   # unknown keys: one error naming the valid ones
    fn = RANKERS.get("probe")

Names are looked up with ``-`` and ``_`` alike (``grad-diff`` finds ``grad_diff``), so a name typed on
the command line in either style is accepted. A registry reads like a read-only dict of name ->
implementation (``sorted(RANKERS)``, ``name in RANKERS``, ``RANKERS[name]``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from mechunlearn.core.config_types import check_values
from mechunlearn.core.errors import MechUnlearnError

T = TypeVar("T")


def _key(name: str) -> str:
    return name.replace("-", "_")


class Registry(Mapping[str, T], Generic[T]):
    """Implementations registered by name, each with an optional config dataclass."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # what an entry is, in messages: "unlearning method", "edit type", ...
        self._entries: dict[str, tuple[T, type | None]] = {}
        self._canonical: dict[str, str] = {}  # _key(name) -> name as registered

    def register(self, name: str, config_cls: type | None = None) -> Callable[[T], T]:
        """Decorator registering its target under ``name``; a second registration of a name is refused."""

        def deco(obj: T) -> T:
            if _key(name) in self._canonical:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = (obj, config_cls)
            self._canonical[_key(name)] = name
            return obj

        return deco

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name``; an unknown name is one error listing the valid ones."""
        found = self._canonical.get(_key(str(name)))
        if found is None:
            raise MechUnlearnError(f"unknown {self.kind} '{name}'; valid: {self.names()}")
        return found

    def get(self, name: str) -> T:  # type: ignore[override]  (raises instead of returning a default)
        return self._entries[self.canonical(name)][0]

    def config_cls(self, name: str) -> type:
        cls = self._entries[self.canonical(name)][1]
        if cls is None:
            raise MechUnlearnError(f"{self.kind} '{name}' takes no options")
        return cls

    def names(self) -> list[str]:
        return sorted(self._entries)

    def defaults(self, name: str) -> dict[str, Any]:
        """The documented defaults of ``name``'s config."""
        return dataclasses.asdict(self.config_cls(name)())

    def build_config(self, name: str, options: dict[str, Any] | None = None) -> Any:
        """``name``'s config dataclass built from ``options``, its values checked against the field types.

        An unknown key is one error naming it, the valid keys, and which other entries have it.
        """
        name = self.canonical(name)
        cls = self.config_cls(name)
        options = dict(options or {})
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - valid)
        if unknown:
            owners = sorted(
                other
                for other, (_, c) in self._entries.items()
                if other != name and c is not None and set(unknown) & {f.name for f in dataclasses.fields(c)}
            )
            hint = f" ({unknown[0]} is an option of {owners})" if owners else ""
            raise MechUnlearnError(
                f"unknown option(s) {unknown} for {self.kind} '{name}'{hint}; valid for '{name}': {sorted(valid)}"
            )
        check_values(cls, options, f"{self.kind} '{name}' option")
        return cls(**options)

    # ---- read-only mapping: name -> implementation ------------------------------------
    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._canonical
