"""The pieces behind the command line's output and endings, in process (fast)."""

from __future__ import annotations

import io
import os
import signal
import time
from typing import Any, Literal

import pytest

from mechunlearn import interrupts, progress
from mechunlearn.config_types import check_values, describe, matches
from mechunlearn.errors import MechUnlearnError


@pytest.fixture(autouse=True)
def _restore_output():
    yield
    progress.reset()


def test_off_a_terminal_bars_are_off_whatever_the_caller_passes(capsys):
    from tqdm.auto import tqdm

    progress.configure(terminal=False)
    assert tqdm(range(3), disable=False).disable
    progress.stage_started("rank")
    progress.stage_finished("rank", 1.25)
    assert capsys.readouterr().err == "stage rank: done in 1.2 s\n"
    progress.configure(terminal=True)
    assert not tqdm(range(3), disable=False, file=io.StringIO()).disable
    progress.stage_finished("rank", 1.0)
    assert capsys.readouterr().err == ""  # on a terminal the bars show progress


def test_quiet_keeps_tables_and_the_last_line(capsys):
    progress.configure(quiet=True, terminal=False)
    progress.say("metric  before  after\nforget  1.0  0.5")
    progress.say("pruned 4 neurons")
    progress.say("wrote runs/x")
    progress.stage_finished("export", 3.0)
    progress.command_finished("prune", 9.0)
    out, err = capsys.readouterr()
    assert out == "metric  before  after\nforget  1.0  0.5\nwrote runs/x\n" and err == ""


def test_the_failed_stage_is_remembered():
    progress.configure(terminal=False)
    progress.stage_started("evaluate_before")
    progress.stage_finished("evaluate_before", 0.1, failed=True)
    assert progress.running_stage() == "evaluate_before"


def test_a_signal_during_clean_up_waits_for_it():
    interrupts.install()
    try:
        with pytest.raises(interrupts.Interrupted) as e:
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                done = True  # reached: the handler did not raise inside the block
        assert done and e.value.exit_code == 143 and interrupts.received() == signal.SIGTERM
    finally:
        interrupts.uninstall()


def test_sigterm_raises_like_ctrl_c():
    interrupts.install()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here at the latest
    finally:
        interrupts.uninstall()


@pytest.mark.parametrize(
    ("value", "hint", "ok"),
    [
        (3, int | None, True),
        (None, int | None, True),
        ("many", int | None, False),
        (True, int, False),  # a JSON boolean is not a count
        (2, float, True),
        ([1, 2], list[int], True),
        ([1, "x"], list[int], False),
        ({"a": 1}, dict[str, Any], True),
        ("zero", Literal["zero", "mean"], True),
        ("half", Literal["zero", "mean"], False),
    ],
)
def test_config_values_against_annotations(value, hint, ok):
    assert matches(value, hint) is ok


def test_config_type_error_names_key_value_and_type():
    from dataclasses import dataclass

    @dataclass
    class C:
        top_k: int | None = None

    with pytest.raises(
        MechUnlearnError, match=r"""config key 'top_k' must be an integer or null, got "many" \(a string\)"""
    ):
        check_values(C, {"top_k": "many"})
    assert describe(list[str] | None) == "a list of strings or null"
