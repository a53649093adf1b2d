"""What a command prints while it works, on a terminal and off one.

The command line calls :func:`configure` once per command, after its arguments parsed:

* **terminal** (stderr is a TTY): progress bars as the libraries draw them.
* **off a terminal** (CI, a log file, ``| tee``): no progress bars (their carriage-return
  redraws flood a log); instead each stage prints one line on stderr when it ends, with its
  duration (``stage rank: done in 12.3 s``), and the command a last one.
* ``--quiet``: no bars, no stage lines, no warnings; stdout carries only the result tables and
  the final line (the output path). Errors still print.
* ``-v`` / ``-vv``: mechunlearn's own INFO log and the libraries' logs and warnings on stderr.

``run.log`` in an output folder (:func:`mechunlearn.core.runs.run_folder`) is written from the
``mechunlearn`` logger and is the same in every mode. Used as a library (no :func:`configure`),
nothing here prints.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from dataclasses import dataclass, field


@dataclass
class OutputMode:
    """The output mode of the running command (module state: one command per process)."""

    configured: bool = False
    quiet: bool = False
    verbose: int = 0
    bars: bool = True  # progress bars drawn (stderr is a terminal and not quiet)
    stage_lines: bool = False  # one line per finished stage (off a terminal, not quiet)
    stages: list[str] = field(default_factory=list)  # stages running now, outermost first
    failed_stage: str | None = None  # innermost stage an exception left
    held: list[str] = field(default_factory=list)  # quiet mode: the last one-line message
    ran_stages: bool = False


MODE = OutputMode()
_console: logging.Handler | None = None
_tqdm_init = None  # tqdm's own __init__, while bars are switched off


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def configure(*, quiet: bool = False, verbose: int = 0, terminal: bool | None = None) -> OutputMode:
    """Set the output mode for the command about to run (see the module docstring)."""
    terminal = _isatty(sys.stderr) if terminal is None else terminal
    MODE.configured = True
    MODE.quiet = quiet
    MODE.verbose = 0 if quiet else verbose
    MODE.bars = terminal and not quiet
    MODE.stage_lines = not terminal and not quiet
    MODE.stages.clear()
    MODE.failed_stage = None
    MODE.held.clear()
    MODE.ran_stages = False
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _set_bars(MODE.bars)
    _set_logging()
    return MODE


def reset() -> None:
    """Back to library behaviour (nothing printed, bars as the callers ask) once a command ended."""
    MODE.held.clear()  # a command that failed has no final line to show
    MODE.configured = MODE.quiet = MODE.stage_lines = False
    MODE.verbose = 0
    MODE.bars = True
    if _tqdm_init is not None:
        _set_bars(True)


def _set_bars(on: bool) -> None:
    """Switch every tqdm bar off (or back on), whatever ``disable=`` its caller passes."""
    global _tqdm_init
    # Hugging Face's own bars (downloads, weight loading) stay off in every mode, as before.
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if on:
        os.environ.pop("TQDM_DISABLE", None)
        if _tqdm_init is not None:
            import tqdm.std

            tqdm.std.tqdm.__init__ = _tqdm_init
            _tqdm_init = None
        return
    os.environ["TQDM_DISABLE"] = "1"  # child processes, and tqdm's own default
    import tqdm.std

    if _tqdm_init is not None:
        return
    original = tqdm.std.tqdm.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        if len(args) > 10:  # disable is tqdm's 11th positional parameter
            args = (*args[:10], True, *args[11:])
        else:
            kwargs["disable"] = True
        original(self, *args, **kwargs)

    _tqdm_init = original
    tqdm.std.tqdm.__init__ = __init__  # subclasses (tqdm.auto, asyncio, rich) call it too


def _set_logging() -> None:
    """One console handler on the root logger at the mode's level; libraries told the same."""
    global _console
    level = logging.ERROR if MODE.quiet else {0: logging.WARNING, 1: logging.INFO}.get(MODE.verbose, logging.DEBUG)
    root = logging.getLogger()
    for h in list(root.handlers):
        if h is _console or getattr(h, "_mechunlearn_console", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._mechunlearn_console = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    root.addHandler(handler)
    _console = handler
    logging.raiseExceptions = False  # a full disk under run.log must not print "--- Logging error ---" tracebacks
    if MODE.verbose:
        root.setLevel(level)
        logging.getLogger("mechunlearn").setLevel(min(level, logging.INFO))
    # transformers and TransformerLens chatter (INFO/WARNING) shows only with -v
    lib_level = logging.ERROR if not MODE.verbose else level
    os.environ["TRANSFORMERS_VERBOSITY"] = logging.getLevelName(lib_level).lower()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(lib_level)
    logging.getLogger("transformer_lens").setLevel(lib_level)
    if MODE.verbose:
        warnings.resetwarnings()
        warnings.simplefilter("default")
    else:
        warnings.filterwarnings("ignore")


def _err(line: str) -> None:
    sys.stdout.flush()  # keep stdout and stderr in order when both go to one log
    print(line, file=sys.stderr, flush=True)


def stage_started(name: str) -> None:
    MODE.stages.append(name)
    MODE.ran_stages = True


def stage_finished(name: str, seconds: float, *, failed: bool = False) -> None:
    """Called by :class:`mechunlearn.core.runs.Timer` when a stage ends; prints its line off a terminal."""
    if MODE.stages and MODE.stages[-1] == name:
        MODE.stages.pop()
    if failed:
        if MODE.failed_stage is None:
            MODE.failed_stage = name
        return
    logging.getLogger("mechunlearn").info("stage %s done in %.1f s", name, seconds)
    if MODE.stage_lines and not MODE.verbose:  # with -v the log line above says it
        _err(f"stage {name}: done in {seconds:.1f} s")


def command_finished(name: str, seconds: float) -> None:
    """The command returned: the held final line (quiet), or the command's own line (off a terminal)."""
    flush_held()
    if MODE.stage_lines and (MODE.ran_stages or seconds >= 1.0):  # `concepts` needs no timing line
        _err(f"{name}: done in {seconds:.1f} s")


def say(message: object = "") -> None:
    """``print_fn`` for the pipelines: in quiet mode only tables and the last line are shown."""
    text = str(message)
    if MODE.quiet and "\n" not in text.strip():
        MODE.held[:] = [text]  # only the final line (the output path) survives
        return
    print(text, flush=True)


def flush_held() -> None:
    for text in MODE.held:
        print(text, flush=True)
    MODE.held.clear()


def running_stage() -> str | None:
    """The stage that was running when an error surfaced (innermost), if any."""
    return MODE.failed_stage or (MODE.stages[-1] if MODE.stages else None)
