"""Configuration of ``prune``/``rank`` runs: a dataclass that round-trips through JSON.

``PruneConfig.from_dict`` also accepts the configuration format of the earlier NeuroX-based
tool (``base_model``, ``neural_probing``, ``retraining``, ``test_prompts``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mechunlearn.core.config_types import check_choices, check_values
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.edits.neuron_ablation import AblationMode
from mechunlearn.edits.sae_clamp import ClampMode, ValueKind
from mechunlearn.training.retrain import RetrainConfig


def build(cls, d: dict[str, Any], what: str):
    """``cls(**d)`` for a config dataclass; unknown keys and values of the wrong type (checked against
    the field annotations) are one error naming the key, the value and what is valid."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise MechUnlearnError(f"unknown {what}(s) {unknown}; valid: {sorted(names)}")
    check_values(cls, d, what)
    return cls(**d)


class JsonConfig:
    """``config.json`` round trip for a config dataclass: ``to_dict``, ``from_dict`` (unknown keys and
    wrongly typed values are one error), ``from_file``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        return build(cls, d, "config key")

    @classmethod
    def from_file(cls, path: str | Path):
        return cls.from_dict(read_config_file(path))


@dataclass
class CheckOptions:
    """What every measurement of a stage runs (before, after, ...).

    Args:
        checks: evaluation checks by name (``mechunlearn.evaluation.checks``); ``None`` the fast
            default set, ``["all"]`` every one.
        check_options: a check's name -> its config options.
    """

    checks: list[str] | None = None
    check_options: dict[str, dict] = field(default_factory=dict)


DEFAULT_TOP_K = 256  # without a budget: best trade-off on the bundled model in bench/RESULTS.md
DEFAULT_MAX_RETAIN_DROP = 0.03  # the retain budget (mechunlearn.evaluation.budget), on by default


@dataclass
class PruneConfig(JsonConfig, CheckOptions):
    """Everything a ``prune`` run needs; saved as ``config.json`` beside its outputs.

    Args:
        concept: concept name (folder under data/concepts) or path to a concept folder.
        model: local checkpoint folder or hub id; ``None`` for the bundled model.
        method: neuron ranking method (``probe``, ``probeless``, ``attribution``).
        method_options: options of the ranking method's config (e.g. ``lambda_l1``).
        top_k: number of neurons to prune (with a budget: the most it may choose; default 1/8
            of all MLP neurons); exclusive with ``ratio``.
        ratio: fraction of all MLP neurons to prune, in (0, 1) (with a budget: the most).
        max_retain_drop: retain budget: prune the largest top-k whose retain loss on validation
            facts and text stays within this (``mechunlearn.evaluation.budget``); ``None`` prunes exactly top-k.
        ablation: ``zero`` or ``mean``.
        retrain: fine-tune on concept-free retain data after pruning (edits kept in force).
        retrain_options: options of :class:`RetrainConfig`.
        ranking: folder of a stored ranking to use instead of ranking anew.
        keywords: override the concept's keywords (legacy ``concept_definition``).
        probing_tokens, probing_labels: a NeuroX tokens/labels pair to probe on instead of
            the concept's sentences.
        test_prompts: prompts whose greedy continuations are recorded before and after.
        from_dir: an earlier ``prune``/``clamp`` output to continue from (edits stack).
        out: output folder (new); ``None`` makes one under ``runs/``.
        device, dtype: where and in what precision to load the model.
        seed: global seed.
    """

    concept: str = "harry_potter"
    model: str | None = None
    method: str = "attribution"
    method_options: dict[str, Any] = field(default_factory=dict)
    top_k: int | None = None
    ratio: float | None = None
    max_retain_drop: float | None = DEFAULT_MAX_RETAIN_DROP
    ablation: AblationMode = "zero"
    retrain: bool = False
    retrain_options: dict[str, Any] = field(default_factory=dict)
    ranking: str | None = None
    keywords: list[str] | None = None
    probing_tokens: str | None = None
    probing_labels: str | None = None
    test_prompts: list[str] = field(default_factory=list)
    from_dir: str | None = None
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        check_start(self)
        if self.top_k is not None and self.ratio is not None:
            raise MechUnlearnError("give either top_k or ratio, not both")
        if self.ratio is not None and not 0 < self.ratio < 1:
            raise MechUnlearnError(f"ratio must be in (0, 1) (a fraction of all MLP neurons), got {self.ratio}")
        if self.top_k is not None and self.top_k < 1:
            raise MechUnlearnError(f"top_k must be a positive number of neurons, got {self.top_k}")
        check_choices(self)
        check_budget(self.max_retain_drop)
        if (self.probing_tokens is None) != (self.probing_labels is None):
            raise MechUnlearnError("probing_tokens and probing_labels go together")
        self.retrain_config()  # validates its keys

    def retrain_config(self) -> RetrainConfig:
        return build(RetrainConfig, self.retrain_options, "retrain option")

    def n_pruned(self, n_neurons: int) -> int:
        """How many neurons to prune out of ``n_neurons``."""
        if self.ratio is not None:
            return max(1, round(self.ratio * n_neurons))
        default = n_neurons // 8 if self.max_retain_drop is not None else DEFAULT_TOP_K
        k = self.top_k or min(default, n_neurons)
        if k > n_neurons:
            raise MechUnlearnError(f"top-k {k} is larger than the model's {n_neurons} MLP neurons")
        return k

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PruneConfig:
        """Build from a dict (this format or the legacy NeuroX-tool format); unknown keys are an error."""
        if "neural_probing" in d or "base_model" in d:
            d = legacy_to_prune(d)
        return build(cls, d, "config key")


DEFAULT_CLAMP = {"top_k": 128, "mode": "negative", "value": 2.0}  # see bench/RESULTS.md (SAE clamping)
DEFAULT_SAE_HOOK = "blocks.2.hook_resid_pre"  # where the shipped SAE of the bundled model reads


@dataclass
class ClampConfig(JsonConfig, CheckOptions):
    """Everything a ``clamp`` run needs; saved as ``config.json`` beside its outputs.

    Args:
        concept: concept name or folder.
        model: checkpoint folder or hub id; ``None`` for the bundled model.
        sae: ``RELEASE:ID`` or an SAE folder; ``None``: the shipped ``saes/<model>/<hook>``.
        method: feature ranking method (``sae-attribution``, ``sae-activation``, ``sae-probe``).
        method_options: options of the ranking method.
        top_k: number of top-ranked features to clamp (exclusive with ``features``).
        features: explicit feature indices to clamp instead of a ranking.
        mode: ``zero``, ``negative`` or ``conditional``.
        value: clamp value (see ``mechunlearn.edits.sae_clamp``).
        value_kind: ``multiplier`` or ``fixed``; ``None`` takes the mode's default.
        threshold: activation above which ``conditional`` clamps.
        max_retain_drop: retain budget: clamp the largest number of top features (up to
            ``top_k``) whose retain loss on validation data stays within this; ``None``: exactly top_k.
        bake: distil the clamped model into plain weights (``model/``).
        distill_options: options of :class:`~mechunlearn.training.distill.BakeConfig`.
        from_dir: an earlier ``prune``/``clamp`` output to continue from (edits stack).
        ranking: a stored feature ranking folder to use instead of ranking anew.
        test_prompts: prompts whose greedy continuations are recorded before and after.
        out, device, dtype, seed: as for ``prune``.
    """

    concept: str = "harry_potter"
    model: str | None = None
    sae: str | None = None
    method: str = "sae-attribution"
    method_options: dict[str, Any] = field(default_factory=dict)
    top_k: int | None = None
    features: list[int] | None = None
    mode: ClampMode = DEFAULT_CLAMP["mode"]
    value: float | None = None
    value_kind: ValueKind | None = None
    threshold: float = 0.0
    max_retain_drop: float | None = DEFAULT_MAX_RETAIN_DROP
    bake: bool = False
    distill_options: dict[str, Any] = field(default_factory=dict)
    from_dir: str | None = None
    ranking: str | None = None
    test_prompts: list[str] = field(default_factory=list)
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.top_k is not None and self.features is not None:
            raise MechUnlearnError("give either top_k or features, not both")
        if self.top_k is not None and self.top_k < 1:
            raise MechUnlearnError(f"top_k must be a positive number of features, got {self.top_k}")
        check_start(self)
        check_choices(self)
        check_budget(self.max_retain_drop)
        self.distill_config()

    @property
    def clamp_value(self) -> float:
        if self.value is not None:
            return self.value
        return DEFAULT_CLAMP["value"] if self.mode == DEFAULT_CLAMP["mode"] else 1.0

    def distill_config(self):
        from mechunlearn.training.distill import BakeConfig

        return build(BakeConfig, self.distill_options, "distill option")


def check_start(cfg) -> None:
    """A stage starts from ``--model`` or from ``--from`` (whose model it uses), not both."""
    if cfg.from_dir is not None and cfg.model is not None:
        raise MechUnlearnError("give either --model or --from (whose model is used), not both")


def check_budget(value: float | None) -> None:
    if value is not None and not 0 <= value < 1:
        raise MechUnlearnError(
            f"max_retain_drop must be a fraction in [0, 1) (e.g. 0.03), or none to switch the budget off; got {value}"
        )


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise MechUnlearnError(f"config file not found: {p}")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MechUnlearnError(f"{p}:{e.lineno}: malformed JSON ({e.msg})") from e
    if not isinstance(d, dict):
        raise MechUnlearnError(f"{p}: expected a JSON object of configuration keys")
    return d


LEGACY_PROBING = {
    "concept_definition",
    "tokens_input_path",
    "labels_input_path",
    "prune_ratio",
    "probe_type",
    "lambda_l1",
    "lambda_l2",
    "num_epochs",
    "batch_size",
    "learning_rate",
}
LEGACY_RETRAIN = {
    "num_epochs",
    "epochs",
    "learning_rate",
    "batch_size",
    "weight_decay",
    "validation_split",
    "train_split",
    "enabled",
}
LEGACY_TOP = {"base_model", "neural_probing", "retraining", "test_prompts", "concept", "output_dir", "log_file", "seed"}


def legacy_to_prune(d: dict[str, Any]) -> dict[str, Any]:
    """Translate the earlier NeuroX-based tool's JSON config into :class:`PruneConfig` keys."""
    for section, allowed in (("neural_probing", LEGACY_PROBING), ("retraining", LEGACY_RETRAIN)):
        unknown = sorted(set(d.get(section) or {}) - allowed)
        if unknown:
            raise MechUnlearnError(f"unknown key(s) {unknown} in '{section}'; valid: {sorted(allowed)}")
    unknown = sorted(set(d) - LEGACY_TOP)
    if unknown:
        raise MechUnlearnError(f"unknown config key(s) {unknown}; valid top-level keys: {sorted(LEGACY_TOP)}")
    probing = d.get("neural_probing") or {}
    out: dict[str, Any] = {"method": "probe", "max_retain_drop": None}  # the legacy tool pruned exactly prune_ratio
    if d.get("base_model") not in (None, "", "bundled"):
        out["model"] = d["base_model"]
    if d.get("concept"):
        out["concept"] = d["concept"]
    if d.get("output_dir"):
        out["out"] = d["output_dir"]
    if "seed" in d:
        out["seed"] = d["seed"]
    if probing.get("concept_definition"):
        out["keywords"] = list(probing["concept_definition"])
    if probing.get("tokens_input_path"):
        out["probing_tokens"] = probing["tokens_input_path"]
        out["probing_labels"] = probing.get("labels_input_path")
    if "prune_ratio" in probing:
        try:
            out["ratio"] = float(probing["prune_ratio"])
        except (TypeError, ValueError):
            raise MechUnlearnError(
                f"'neural_probing.prune_ratio' must be a number, got {json.dumps(probing['prune_ratio'])}"
            ) from None
    opts = {}
    for old, new in (
        ("lambda_l1", "lambda_l1"),
        ("lambda_l2", "lambda_l2"),
        ("num_epochs", "epochs"),
        ("batch_size", "batch_size"),
        ("learning_rate", "learning_rate"),
    ):
        if old in probing:
            opts[new] = probing[old]
    out["method_options"] = opts
    retraining = d.get("retraining") or {}
    if retraining and retraining.get("enabled", True):
        out["retrain"] = True
        r = {}
        for old, new in (
            ("num_epochs", "epochs"),
            ("epochs", "epochs"),
            ("learning_rate", "lr"),
            ("batch_size", "batch_size"),
            ("weight_decay", "weight_decay"),
        ):
            if old in retraining:
                r[new] = retraining[old]
        out["retrain_options"] = r
    out["test_prompts"] = list(d.get("test_prompts") or [])
    return out
