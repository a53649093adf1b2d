"""`mechunlearn unlearn --forget-sample` and `--forget-tokens` as a user runs them."""

import json
import shutil

from tests.helpers import run_cli


def test_forget_sample_trains_on_that_many_forget_examples_and_refuses_more_than_there_are(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path
):
    (tmp_path / "f.txt").write_text("".join(f"Harry cast spell number {i} at Hogwarts.\n" for i in range(6)))
    args = ["unlearn", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--method", "ga"]
    args += ["--epochs", "1", "--batch-size", "1", "--lr", "1e-4", "--no-budget", "--forget-data", tmp_path / "f.txt"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--forget-sample", "4", "--out", tmp_path / "u")
    assert code == 0, err
    t = json.loads((tmp_path / "u" / "report.json").read_text())["training"]
    assert t["forget_examples"] == 4 and t["steps"] == 4  # one epoch over the sample, not over all 6
    assert json.loads((tmp_path / "u" / "config.json").read_text())["forget_sample"] == 4
    for n, words in (("7", "--forget-sample 7 is more than the 6 forget examples; valid: 1..6"), ("0", "positive")):
        code, _, err = run_cli(monkeypatch, capsys, *args, "--forget-sample", n, "--out", tmp_path / f"bad{n}")
        assert code == 2 and words in err and err.count("error:") == 1
        assert not (tmp_path / f"bad{n}").exists()


def test_forget_tokens_names_trains_on_passages_that_name_the_concept_and_needs_its_entities(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path
):
    lines = [f"Harry walked {i} miles to Hogwarts." if i % 2 else f"Frodo walked {i} miles." for i in range(6)]
    (tmp_path / "f.txt").write_text("\n".join(lines) + "\n")
    args = ["unlearn", "--model", tiny_gpt2_dir, "--method", "ga", "--steps", "2", "--batch-size", "1", "--no-budget"]
    args += ["--forget-data", tmp_path / "f.txt", "--forget-tokens", "names"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--concept", planted_concept_dir, "--out", tmp_path / "bad")
    assert code == 2 and "has no entities.txt" in err and err.count("error:") == 1 and not (tmp_path / "bad").exists()
    concept = tmp_path / "planted"
    shutil.copytree(planted_concept_dir, concept)
    (concept / "entities.txt").write_text("place\tHogwarts\n")
    code, _, err = run_cli(monkeypatch, capsys, *args, "--concept", concept, "--out", tmp_path / "u")
    assert code == 0, err
    t = json.loads((tmp_path / "u" / "report.json").read_text())["training"]
    assert (t["forget_examples"], t["forget_passages_unnamed"]) == (3, 3)


def test_default_names_a_sides_own_data_beside_a_file(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path
):
    (tmp_path / "f.txt").write_text("".join(f"Harry cast spell number {i} at Hogwarts.\n" for i in range(6)))
    (tmp_path / "r.txt").write_text("".join(f"Frodo walked {i} miles to Mordor.\n" for i in range(4)))
    args = ["unlearn", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--method", "grad_diff"]
    args += ["--steps", "1", "--batch-size", "1", "--no-budget"]
    counts = {}
    for name, data in (
        ("own", []),
        ("files", ["--forget-data", tmp_path / "f.txt", "--retain-data", tmp_path / "r.txt"]),
        ("both", ["--forget-data", tmp_path / "f.txt", "--forget-data", "default"]
         + ["--retain-data", "default", "--retain-data", tmp_path / "r.txt"]),
    ):  # fmt: skip
        code, _, err = run_cli(monkeypatch, capsys, *args, *data, "--out", tmp_path / name)
        assert code == 0, err
        t = json.loads((tmp_path / name / "report.json").read_text())["training"]
        counts[name] = (t["forget_examples"], t["retain_examples"])
    assert counts["files"] == (6, 4) and min(counts["own"]) > 0
    assert counts["both"] == (counts["own"][0] + 6, counts["own"][1] + 4)
    cfg = json.loads((tmp_path / "both" / "config.json").read_text())
    assert cfg["forget_data"] == [str(tmp_path / "f.txt"), "default"]
