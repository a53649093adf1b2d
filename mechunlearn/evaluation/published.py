"""Published unlearning results, shown beside a comparison's runs as reference points.

They come from other models and other benchmarks, so they are not points on the same scale: each is
read as *after / before* of the paper's forget measure and of its keep measure, which is what a run's
``forget.mc`` and ``keep.mc`` are too (known items score 1.0 before by construction). Chance is not
removed from either (WMDP and the MC sets here are four-way: a model that forgot all scores ~0.25x
of a perfect one, not 0). Figures as the papers report them; their settings are in the papers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    method: str
    source: str
    model: str
    forget_measure: str
    forget_before: float
    forget_after: float
    keep_measure: str
    keep_before: float
    keep_after: float

    @property
    def forget_ratio(self) -> float:
        return self.forget_after / self.forget_before

    @property
    def keep_ratio(self) -> float:
        return self.keep_after / self.keep_before


PUBLISHED: tuple[Published, ...] = (
    Published("RMU", "Li et al. 2024 (WMDP), arXiv 2403.03218", "Zephyr-7B",
              "WMDP-Bio accuracy (chance 25)", 63.7, 31.2, "MMLU accuracy", 58.1, 57.1),
    Published("Who's Harry Potter", "Eldan & Russinovich 2023, arXiv 2310.02238", "Llama-2-7b-chat",
              "Harry Potter familiarity", 0.29, 0.007, "benchmarks (0.97-0.99x reported; the low end)", 1.0, 0.97),
    Published("NPO (full)", "RWKU, Jin et al. 2024, arXiv 2406.10890", "Llama-3-8B-Instruct",
              "forget All", 79.6, 26.2, "neighbour All", 90.7, 72.6),
    Published("in-context unlearning prompt", "RWKU, Jin et al. 2024, arXiv 2406.10890", "Llama-3-8B-Instruct",
              "forget All", 79.6, 12.8, "neighbour All", 90.7, 55.7),
)  # fmt: skip


def published_markdown() -> str:
    """The published results as a note and a markdown table (figures as reported, and their after / before)."""
    note = (
        "Published results beside them: other models and benchmarks, each read as after / before, as the runs' "
        "forget.mc and keep.mc are (known items score 1.0 before); chance is not removed."
    )
    head = "| published | source | model | forget measure: before -> after | forget after/before "
    head += "| keep measure: before -> after | keep after/before |"
    lines = [note, "", head, "|---|---|---|---|---|---|---|"]
    for p in PUBLISHED:
        lines.append(
            f"| {p.method} | {p.source} | {p.model} | {p.forget_measure}: {p.forget_before:g} -> {p.forget_after:g} "
            f"| {p.forget_ratio:.3f} | {p.keep_measure}: {p.keep_before:g} -> {p.keep_after:g} | {p.keep_ratio:.3f} |"
        )
    return "\n".join(lines)
