"""The pieces behind the command line's output and endings, in process (fast)."""

from __future__ import annotations

import enum
import io
import os
import signal
import time
from typing import Any, Literal

import pytest

from mechunlearn.core import interrupts, progress
from mechunlearn.core.config_types import check_values, describe, matches
from mechunlearn.core.errors import MechUnlearnError


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


class Mode(str, enum.Enum):
    zero = "zero"
    mean = "mean"


def test_a_value_outside_a_choice_is_a_usage_error(capsys):
    import typer

    from mechunlearn.cli.errors import run

    app = typer.Typer()

    @app.command("go")
    def go(mode: Mode = typer.Option(Mode.zero)):  # noqa: B008
        print(mode.value)

    @app.command("other")
    def other():
        pass

    assert run(app, ["go", "--mode", "half"], prog_name="mechunlearn") == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Usage: mechunlearn go [OPTIONS]" and err[-1].startswith("error: ") and "'half'" in err[-1]
    assert "zero" in err[-1] and len(err) == 3


def _fake_cuda(monkeypatch, *, built: str | None, available: bool, count: int = 1, bf16: bool = True):
    import torch

    monkeypatch.setattr(torch.version, "cuda", built)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla V100")


@pytest.mark.parametrize(
    ("device", "dtype", "fake", "msg"),
    [
        ("cuda", None, {"built": None, "available": False}, "CPU-only build), which cannot use a GPU; install a CUDA"),
        ("cuda", None, {"built": "12.8", "available": False}, "(CUDA 12.8) sees no usable GPU"),
        ("cuda:3", None, {"built": "12.8", "available": True, "count": 2}, "only 2 GPUs visible (cuda:0, cuda:1)"),
        ("cuda", "bfloat16", {"built": "12.8", "available": True, "bf16": False}, "Tesla V100 cannot run it"),
        ("npu", None, {"built": None, "available": False}, "unknown device 'npu'"),
        ("cpu", "float8", {"built": None, "available": False}, "unknown dtype 'float8'"),
        ("cpu", "int64", {"built": None, "available": False}, "dtype 'int64' cannot hold model weights"),
    ],
)
def test_devices_and_dtypes_this_torch_cannot_run(monkeypatch, device, dtype, fake, msg):
    from mechunlearn.models.device import check_device

    _fake_cuda(monkeypatch, **fake)
    with pytest.raises(MechUnlearnError) as e:
        check_device(device, dtype)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_cpu_runs_every_float_dtype():
    from mechunlearn.models.device import check_device

    for dtype in ("float32", "float16", "bfloat16"):
        check_device("cpu", dtype)


def test_a_real_cpu_out_of_memory_is_read(monkeypatch):
    import torch

    from mechunlearn.cli import environment_errors

    with pytest.raises(RuntimeError) as e:
        torch.empty(1 << 45, dtype=torch.uint8)  # torch's own allocator failure, nothing allocated
    assert environment_errors.is_out_of_memory(e.value)
    msg = environment_errors.out_of_memory_message(e.value)
    assert "tried to allocate 32.00 TiB on the CPU (main memory)" in msg and "smaller model" in msg


def test_command_line_flags_override_a_config_file_and_replace_its_alternative():
    from mechunlearn.cli.options import merged

    base = {"top_k": 64, "method": "probe", "max_retain_drop": 0.03}
    out = merged(base, {"ratio": 0.1, "method": None}, {"max_retain_drop": None}, either=("top_k", "ratio"))
    assert out == {"ratio": 0.1, "method": "probe", "max_retain_drop": None}  # --ratio drops the file's top_k
    out = merged({"ratio": 0.1}, {"top_k": 8}, {}, either=("top_k", "ratio"))
    assert out == {"top_k": 8}
    assert base == {"top_k": 64, "method": "probe", "max_retain_drop": 0.03}  # the file's dict is not changed


def test_help_lists_are_the_registries():
    from mechunlearn.cli.options import (
        EVALUATION_CHECKS,
        FEATURE_RANKING_METHODS,
        RANKING_METHODS,
        UNLEARNING_METHODS,
    )
    from mechunlearn.evaluation.checks import CHECKS
    from mechunlearn.ranking import FEATURE_RANKERS, RANKERS
    from mechunlearn.unlearning import METHODS

    assert sorted(RANKING_METHODS) == RANKERS.names()
    assert sorted(FEATURE_RANKING_METHODS) == FEATURE_RANKERS.names()
    assert sorted(UNLEARNING_METHODS) == METHODS.names()
    assert sorted(EVALUATION_CHECKS) == CHECKS.names()


def test_one_registry_for_methods_rankings_and_edits():
    from dataclasses import dataclass

    from mechunlearn.core.registry import Registry
    from mechunlearn.edits import EDITS
    from mechunlearn.ranking import FEATURE_RANKERS, RANKERS
    from mechunlearn.unlearning import METHODS

    assert all(isinstance(r, Registry) for r in (METHODS, RANKERS, FEATURE_RANKERS, EDITS))

    @dataclass
    class Cfg:
        top_k: int = 3
        by: Literal["freq", "mean"] = "freq"

    reg: Registry = Registry("thing")
    reg.register("two_words", Cfg)(len)
    assert reg.get("two-words") is len and "two-words" in reg and reg.names() == ["two_words"]
    assert reg.build_config("two-words", {"top_k": 5}) == Cfg(top_k=5)
    with pytest.raises(
        MechUnlearnError, match=r"unknown option\(s\) \['topk'\] for thing 'two_words'.*\['by', 'top_k'\]"
    ):
        reg.build_config("two_words", {"topk": 5})
    with pytest.raises(MechUnlearnError, match=r"thing 'two_words' option 'top_k' must be"):
        reg.build_config("two_words", {"top_k": "many"})
    with pytest.raises(MechUnlearnError, match=r"unknown thing 'one'; valid: \['two_words'\]"):
        reg.get("one")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("two-words")(len)
    # hyphenated and underscored names of the real registries are one name
    assert METHODS.get("grad-diff") is METHODS.get("grad_diff")
    assert FEATURE_RANKERS.canonical("sae_probe") == "sae-probe"
