"""``mechunlearn compare``: every scorecard figure of several runs in one table and one page."""

import csv
import json

from mechunlearn.evaluation.compare import RunSummary, pareto
from tests.helpers import run_cli


def test_compare_two_prune_runs(monkeypatch, capsys, tmp_path):
    runs = []
    for k in (8, 64):
        out = tmp_path / f"prune-{k}"
        code, _, err = run_cli(
            monkeypatch, capsys, "prune", "--method", "probeless", "--top-k", k, "--no-budget", "--out", out
        )
        assert code == 0, err
        runs.append(out)
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(monkeypatch, capsys, "compare", *runs, "--out", out)
    assert code == 0, err
    for name in ("compare.html", "compare.md", "compare.csv", "compare.json", "config.json"):
        assert (out / name).is_file(), name
    table = json.loads((out / "compare.json").read_text())
    assert table["header"][:2] == ["run", "forget.mc"] and [r[0] for r in table["rows"]] == ["prune-8", "prune-64"]
    for run, row in zip(runs, table["rows"], strict=True):
        card = json.loads((run / "report.json").read_text())["scorecard"]["pruned"]
        assert dict(zip(table["header"][1:], row[1:], strict=True)) == {k: card.get(k) for k in table["header"][1:]}
    with (out / "compare.csv").open() as f:
        assert list(csv.reader(f))[0] == table["header"]
    assert stdout.splitlines()[0].split() == table["header"]
    html = (out / "compare.html").read_text()
    assert "prune-64" in html and "forget vs keep" not in html and "what each run forgot" in html
    assert "runs prune-*" in html  # the names' shared prefix in the title, the rest beside each point
    # published results beside the runs, read as after / before (RMU: WMDP-Bio 63.7 -> 31.2, MMLU 58.1 -> 57.1)
    md = (out / "compare.md").read_text()
    rmu = next(line for line in md.splitlines() if line.startswith("| RMU |"))
    assert "63.7 -> 31.2 | 0.490 |" in rmu and rmu.endswith("58.1 -> 57.1 | 0.983 |")
    assert "each read as after / before" in md.split("| RMU |")[0]  # the note says how to read them
    assert "Harry Potter familiarity" in html and "published (other models and benchmarks" in html


def test_pareto_keeps_the_runs_nothing_beats_on_both_sides():
    def run(name, forget, keep):
        return RunSummary(name, "", "", {"forget.mc": forget, "keep.mc": keep})

    runs = [run("a", 0.5, 0.9), run("b", 0.3, 0.8), run("c", 0.6, 0.8), run("d", 0.3, 0.95)]
    assert [r.name for r in pareto(runs)] == ["d"]  # d forgets as much as b and keeps more than any
    runs = [run("a", 0.5, 0.99), run("b", 0.3, 0.8), run("c", 0.6, 0.8)]
    assert [r.name for r in pareto(runs)] == ["b", "a"]


def test_compare_refuses_a_folder_without_a_report(monkeypatch, capsys, tmp_path):
    (tmp_path / "notes").mkdir()
    code, _, err = run_cli(monkeypatch, capsys, "compare", tmp_path / "notes", "--out", tmp_path / "cmp")
    assert code == 2 and "notes" in err and "report.json" in err
    assert not (tmp_path / "cmp").exists()


def test_names_of_runs_close_together_go_to_different_sides():
    from mechunlearn.evaluation.compare import label_positions

    close = [(0.98, 0.90, "gemma-3-270m-prune"), (0.98, 0.87, "gemma-3-270m-rmu")]
    first, second = label_positions(close, (0.94, 1.04))
    assert first == "top center" and second != "top center"  # above the lower point is the upper one's name
    assert label_positions([(0.95, 0.5, "a"), (0.99, 0.1, "b")], (0.94, 1.04)) == ["top center"] * 2  # apart: above


def test_an_evaluation_brings_the_evaluated_runs_settings_and_curve(monkeypatch, capsys, tmp_path):
    from mechunlearn.evaluation.compare import read_run

    run, ev = tmp_path / "npo", tmp_path / "npo-checks"
    code, _, err = run_cli(monkeypatch, capsys, "unlearn", "--method", "npo", "--steps", "3", "--no-budget",
                           "--out", run)  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--run", run, "--checks", "facts", "--out", ev)
    assert code == 0, err
    trained, evaluated = read_run(run), read_run(ev)
    assert evaluated.curve == trained.curve and len(trained.curve) == 3
    assert evaluated.command.startswith(trained.command) and "evaluated with checks=['facts']" in evaluated.command
    assert evaluated.card == json.loads((ev / "report.json").read_text())["scorecard"]["run"]


def test_page_labels_drop_the_prefix_every_run_shares():
    from mechunlearn.evaluation.compare import short_names

    assert short_names(["gemma-3-270m-recipe", "gemma-3-270m-rmu-checks"]) == (
        ["recipe", "rmu-checks"],
        "gemma-3-270m-",
    )
    assert short_names(["prune-8", "prune-64"]) == (["8", "64"], "prune-")
    assert short_names(["a-x", "a-"])[1] == "" and short_names(["solo-run"]) == (["solo-run"], "")
    assert short_names(["recipe", "rmu"]) == (["recipe", "rmu"], "")  # no shared prefix up to a separator
