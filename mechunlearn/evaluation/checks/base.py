"""What an evaluation check is: one measurement of what a model knows, registered by name.

A check is one small file in this folder: a config dataclass (its options, documented, with
defaults) and a class decorated with ``@register_check(name, ConfigClass)`` whose
:meth:`Check.run` returns flat metrics (``{"familiarity.concept": 0.4, ...}``) for the model as it
is now. The report (:class:`~mechunlearn.evaluation.report.EvalSets`), ``mechunlearn evaluate
--checks``, every stage's before/after table and the shared tests pick a registered check up by
name; nothing else needs to change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json
from mechunlearn.core.registry import Registry

if TYPE_CHECKING:
    from mechunlearn.concepts.folders import Concept
    from mechunlearn.models.hooked import HookedLM

log = logging.getLogger(__name__)

Known = dict[str, dict[str, list[int]]]  # fact set -> side -> indices of facts the base model knows


@dataclass
class TrainedOn:
    """What a run's training read, for checks that compare trained-on with never-seen text (``mia``)
    or train on it again (``relearn``): the forget texts and facts, and the method's settings."""

    forget_texts: list[str] = field(default_factory=list)
    method: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckContext:
    """What a check sees besides the model.

    ``known`` is the facts the base model knew (recorded by the first measurement with
    ``record_known``, on every split or on ``known_splits`` only, and kept for every later stage);
    ``out`` the folder where checks write what they saw (continuations, per-item scores), ``None``
    to keep nothing; ``stage`` names the measurement (``before``, ``after``, ...) in those files;
    ``memory`` holds values a check keeps from one stage to the next (e.g. the first stage's AUC).
    """

    concept: Concept
    splits: tuple[str, ...] = ("test",)
    known: Known | None = None
    record_known: bool = False
    out: Path | None = None
    stage: str = "eval"
    trained_on: TrainedOn | None = None
    memory: dict[str, Any] = field(default_factory=dict)
    known_splits: tuple[str, ...] | None = None

    def scored(self, split: str) -> bool:
        """Whether facts of ``split`` are scored: the measured splits, and those whose known facts are recorded."""
        if split in self.splits:
            return True
        return self.record_known and (self.known_splits is None or split in self.known_splits)

    def write(self, check: str, payload: Any) -> None:
        """Keep ``payload`` as ``{out}/checks/{check}-{stage}.json`` (nothing without ``out``)."""
        if self.out is not None:
            (self.out / "checks").mkdir(parents=True, exist_ok=True)
            write_json(self.out / "checks" / f"{check}-{self.stage}.json", payload)


class Check:
    """Base class of evaluation checks.

    Class attributes a check may set:
        name: registered name.
        config_cls: its config dataclass.
        default: in the fast set every stage measures (``--checks all`` adds the others).
        in_all: run by ``--checks all`` (``lm_eval``, an optional extra, is not).
        records_known: records which facts the base model knows (``facts``, ``paraphrase``); these run
            first, so the other checks can ask about the known facts from the first stage on.
    """

    name: ClassVar[str] = ""
    config_cls: ClassVar[type | None] = None
    default: ClassVar[bool] = False
    records_known: ClassVar[bool] = False
    in_all: ClassVar[bool] = True

    def __init__(self, config: Any) -> None:
        self.cfg = config

    def missing(self, concept: Concept, ctx: CheckContext) -> str | None:
        """Why this check cannot run on ``concept`` (data it needs that the folder lacks), else ``None``."""
        return None

    def run(self, model: HookedLM, ctx: CheckContext) -> dict[str, float]:
        raise NotImplementedError

    def recall(self, memory: dict[str, Any], metrics: dict[str, float]) -> None:
        """Put in ``memory`` what :meth:`run` would have kept from a stage that is read back, not measured
        (its reported ``metrics``); a check that keeps nothing from one stage to the next does nothing."""


CHECKS: Registry[type[Check]] = Registry("evaluation check")


def register_check(name: str, config_cls: type | None = None) -> Callable[[type[Check]], type[Check]]:
    """Register an evaluation check class under ``name`` with its config dataclass."""

    def deco(cls: type[Check]) -> type[Check]:
        cls.name, cls.config_cls = name, config_cls
        return CHECKS.register(name, config_cls)(cls)

    return deco


def default_checks() -> list[str]:
    """The fast set every stage measures, in registration order."""
    return [n for n, c in CHECKS.items() if c.default]


def make_checks(spec: str | list[str] | None, options: dict[str, dict] | None = None) -> list[Check]:
    """Checks by name: ``None`` for the default set, ``"all"`` for every one, or a list / comma-separated
    names; ``options`` maps a check's name to its config options (unknown names or keys: one error)."""
    if spec is None:
        names = default_checks()
    elif spec == "all" or spec == ["all"]:
        names = [n for n, c in CHECKS.items() if c.in_all]
    else:
        names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
        if not names:
            raise MechUnlearnError(f"no check named; valid: {CHECKS.names()} or 'all'")
    options = options or {}
    for n in options:
        CHECKS.canonical(n)
    out = []
    for n in dict.fromkeys(CHECKS.canonical(n) for n in names):
        cls = CHECKS.get(n)
        opts = next((v for k, v in options.items() if CHECKS.canonical(k) == n), None)
        out.append(cls(CHECKS.build_config(n, opts) if cls.config_cls else None))
    return sorted(out, key=lambda c: not c.records_known)
