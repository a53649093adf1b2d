"""``compare``: runs side by side — one table (printed, markdown, CSV, JSON) and one HTML page."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json
from mechunlearn.core.runs import default_out, run_folder
from mechunlearn.evaluation.compare import compare_figure, read_run, table_rows
from mechunlearn.evaluation.plots import write_html
from mechunlearn.evaluation.published import published_markdown


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def compare(runs: list[str], out: str | None = None, *, print_fn=print) -> dict[str, Any]:
    if not runs:
        raise MechUnlearnError("give at least one run folder to compare")
    summaries = [read_run(r) for r in runs]
    header, rows = table_rows(summaries)
    widths = [max(len(h), *(len(_fmt(r[i])) for r in rows)) for i, h in enumerate(header)]
    text = "\n".join(
        "  ".join(
            _fmt(v).rjust(w) if i else _fmt(v).ljust(w) for i, (v, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [header, *rows]
    )
    markdown = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in rows]
    )
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    folder = Path(out) if out else default_out("compare", "runs")
    with run_folder(folder, {"runs": runs, "out": str(folder)}) as tmp:
        (tmp / "compare.md").write_text(f"{markdown}\n\n{published_markdown()}\n", encoding="utf-8")
        (tmp / "compare.csv").write_text(buf.getvalue(), encoding="utf-8")
        write_json(tmp / "compare.json", {"header": header, "rows": rows, "runs": [asdict(s) for s in summaries]})
        write_html(compare_figure(summaries), tmp / "compare.html")
    print_fn(text)
    print_fn(f"wrote {folder} (compare.html, compare.md, compare.csv, compare.json)")
    return {"header": header, "rows": rows}
