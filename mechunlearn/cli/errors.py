"""How the command line ends: a result, or one line saying what went wrong, never a traceback.

:func:`run` runs the typer app with ``standalone_mode=False`` and turns what comes out of it into
a message and an exit status:

====================================================  =====================================  ====
what                                                   printed on stderr                      exit
====================================================  =====================================  ====
usage error (unknown command/option, missing value,    the command's usage line, a hint,      2
wrong type, value outside a choice, extra argument)    one ``error:`` line (with "did you
                                                       mean" where a name is close)
bad input the project checks (:class:`MechUnlearnError`)  one ``error:`` line                 2
out of memory                                          one ``error:`` line: the stage, how    1
                                                       much was asked, what to try
disk full / other OS error while reading or writing   one ``error:`` line naming the file    1
Ctrl-C (SIGINT) / SIGTERM                              one ``error:`` line                    130 / 143
a bug                                                  the traceback (it is ours to fix)      1
====================================================  =====================================  ====

Click's exceptions are recognised by what they do (``exit_code``, ``format_message``, ``show``),
not by class, so this works whether click is the standalone package or the copy vendored in
typer (``typer._click``, typer >= 0.26). Heavy libraries are imported only inside commands, so a
usage error answers before torch is loaded.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import re
import sys
import time
from typing import Any

import typer

from mechunlearn.cli.environment_errors import (
    disk_full,
    disk_full_message,
    is_out_of_memory,
    os_error_message,
    out_of_memory_message,
)
from mechunlearn.core import interrupts, progress
from mechunlearn.core.errors import MechUnlearnError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
OUTPUT_FLAGS = {"quiet": ("-q", "--quiet"), "verbose": ("-v", "--verbose")}


class _Run:
    """What is known about the command being run (for messages after it failed)."""

    def __init__(self, args: list[str], prog_name: str = "mechunlearn") -> None:
        self.args = args
        self.prog_name = prog_name
        self.name: str | None = None  # subcommand name, once parsed
        self.group: Any = None  # the click group built from the app

    @property
    def command(self) -> Any:
        commands = getattr(self.group, "commands", None) or {}
        return commands.get(self.name) if self.name else None


_run: _Run | None = None


def _opts(command) -> set[str]:
    return {o for p in getattr(command, "params", []) for o in (*p.opts, *getattr(p, "secondary_opts", []))}


def _with_output_options(name: str, callback):
    """``callback`` with ``-q/--quiet`` and ``-v/--verbose`` added to its signature (as pip has them
    on every command). The wrapper sets the output mode once the arguments parsed (so a usage
    error answers before any heavy import), times the command and flushes quiet mode's last line."""
    sig = inspect.signature(callback, eval_str=True)
    taken = {p.name for p in sig.parameters.values()}
    used = {d for p in sig.parameters.values() for d in (getattr(p.default, "param_decls", None) or ())}
    flags = {key: [f for f in decls if f not in used] for key, decls in OUTPUT_FLAGS.items()}  # the command's own win
    extra = []
    if "quiet" not in taken and flags["quiet"]:
        extra.append(
            inspect.Parameter(
                "quiet",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=bool,
                default=typer.Option(
                    False,
                    *flags["quiet"],
                    help="Print only the result table and the output path (no progress, no stage lines).",
                    rich_help_panel="Output",
                ),
            )
        )
    if "verbose" not in taken and flags["verbose"]:
        extra.append(
            inspect.Parameter(
                "verbose",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=int,
                default=typer.Option(
                    0,
                    *flags["verbose"],
                    count=True,
                    help="Also show mechunlearn's log and the libraries' logs and warnings (-vv: debug).",
                    rich_help_panel="Output",
                ),
            )
        )
    params = list(sig.parameters.values())
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params):
        params = [p for p in params if p.kind != inspect.Parameter.VAR_KEYWORD] + extra + [params[-1]]
    else:
        params += extra
    own = {p.name for p in extra}

    @functools.wraps(callback)
    def run_command(*args, **kwargs):
        quiet = kwargs.pop("quiet", False) if "quiet" in own else kwargs.get("quiet", False)
        verbose = kwargs.pop("verbose", 0) if "verbose" in own else kwargs.get("verbose", 0)
        if _run is not None:
            _run.name = name
        progress.configure(quiet=bool(quiet), verbose=int(verbose or 0))
        start = time.perf_counter()
        rv = callback(*args, **kwargs)
        progress.command_finished(name, time.perf_counter() - start)
        return rv

    run_command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    run_command.__annotations__ = {p.name: p.annotation for p in params} | (
        {"return": sig.return_annotation} if sig.return_annotation is not inspect.Signature.empty else {}
    )
    run_command._mechunlearn_wrapped = True  # type: ignore[attr-defined]
    return run_command


def prepare(app: typer.Typer) -> typer.Typer:
    """Give every command of ``app`` (and of its sub-apps) the output options; idempotent."""
    for info in app.registered_commands:
        callback = info.callback
        if callback is None or getattr(callback, "_mechunlearn_wrapped", False):
            continue
        name = info.name or callback.__name__.replace("_", "-")
        info.callback = _with_output_options(name, callback)
    for group in getattr(app, "registered_groups", []):
        if getattr(group, "typer_instance", None) is not None:
            prepare(group.typer_instance)
    return app


def run(app: typer.Typer, args: list[str] | None = None, prog_name: str = "mechunlearn") -> int:
    """Run ``app`` on ``args`` (default ``sys.argv[1:]``); return the exit status (see the module docstring)."""
    global _run
    args = list(sys.argv[1:] if args is None else args)
    _run = _Run(args, prog_name)
    group = typer.main.get_command(prepare(app))
    _run.group = group
    interrupts.install()
    try:
        rv = group.main(args=args, prog_name=prog_name, standalone_mode=False)
        code = rv if isinstance(rv, int) and not isinstance(rv, bool) else EXIT_OK
        if interrupts.received() is not None:  # typer turns KeyboardInterrupt into Exit(130)
            return _interrupted(interrupts.received())
        return code
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - every way out is decided in report()
        return report(e)
    finally:
        progress.reset()  # in-process callers (tests, notebooks) get the library's quiet defaults back
        interrupts.uninstall()


# ---------------------------------------------------------------------------------------------
# messages


def _error(message: str) -> None:
    sys.stdout.flush()
    typer.secho(f"error: {message}", fg="red", err=True)


def _interrupted(signum: int | None) -> int:
    import signal

    signum = signum or signal.SIGINT
    name = signal.Signals(signum).name
    _error(f"interrupted by {name}; no partial output was left behind")
    return 128 + signum


def _is_click_exception(e: BaseException) -> bool:
    return isinstance(getattr(e, "exit_code", None), int) and callable(getattr(e, "format_message", None))


def report(e: BaseException) -> int:
    """Print what ``e`` means for the user; return the exit status. Re-raises bugs."""
    if isinstance(e, KeyboardInterrupt) or interrupts.received() is not None:
        return _interrupted(getattr(e, "signum", None) or interrupts.received())
    if isinstance(e, MechUnlearnError):
        _error(str(e))
        return EXIT_USAGE
    name = type(e).__name__
    if name == "Abort":  # click's Ctrl-C / EOF at a prompt
        if isinstance(e.__context__, KeyboardInterrupt):
            return _interrupted(interrupts.received())
        _error("aborted")
        return EXIT_FAILURE
    if name == "Exit" and isinstance(getattr(e, "exit_code", None), int):
        return e.exit_code
    if _is_click_exception(e):
        return _click_error(e)
    if isinstance(e, BrokenPipeError):  # `mechunlearn ... | head`: the reader left; say nothing
        import os

        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    if is_out_of_memory(e):
        command = _run.name if _run is not None and _run.name else "the command"
        opts = _opts(_run.command) if _run is not None and _run.command is not None else set()
        _error(out_of_memory_message(e, command, frozenset(opts)))
        return EXIT_FAILURE
    full = disk_full(e)
    if full is not None:
        _error(disk_full_message(full))
        return EXIT_FAILURE
    if isinstance(e, OSError) and (e.errno is not None or e.filename):
        _error(os_error_message(e))
        return EXIT_FAILURE
    raise e


def _click_error(e) -> int:
    """A click usage error: usage line, help hint, one error line; other click errors: one line."""
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" or (ctx is not None and not e.format_message().strip()):
        e.show()  # `mechunlearn` alone: the help text
        return e.exit_code
    message = e.format_message()
    if type(e).__name__ == "NoSuchOption":
        message = _no_such_option(e, ctx)
    elif re.match(r"No such command '([^']*)'", message):
        message = _no_such_command(message, ctx)
    elif getattr(e, "param", None) is not None and "Invalid value" in message:
        message = _with_raw_value(e, message)
    if ctx is None:
        ctx = _context_for_args()
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    if ctx is not None:
        sys.stdout.flush()
        typer.echo(ctx.get_usage(), err=True)
        help_opts = getattr(ctx, "help_option_names", ["--help"])
        typer.echo(f"Try '{ctx.command_path} {help_opts[0]}' for help.", err=True)
    _error(message)
    return e.exit_code


def _context_for_args() -> Any:
    """A click context for the subcommand named in the arguments (some errors come without one)."""
    if _run is None or _run.group is None:
        return None
    found = (getattr(sys.modules.get(k.__module__), "Context", None) for k in type(_run.group).__mro__)
    ctx_cls = next((c for c in found if isinstance(c, type)), None)
    if ctx_cls is None:
        return None
    try:
        ctx = ctx_cls(_run.group, info_name=_run.prog_name)
        commands = getattr(_run.group, "commands", None) or {}
        name = next((a for a in _run.args if a in commands), None)
        return ctx_cls(commands[name], info_name=name, parent=ctx) if name else ctx
    except Exception:  # noqa: BLE001 - a usage line is a nicety; the error line is what matters
        return None


def _no_such_option(e, ctx) -> str:
    """``No such option: --top-ka`` + ``; did you mean --top-k?`` (click's own list, or close names)."""
    name = getattr(e, "option_name", None) or e.format_message().split(":", 1)[-1].split("(")[0].strip()
    possible = list(getattr(e, "possibilities", None) or [])
    if not possible and ctx is not None:
        possible = difflib.get_close_matches(name, sorted(_opts(ctx.command)), n=3, cutoff=0.75)
    hint = f"; did you mean {' or '.join(possible)}?" if possible else ""
    return f"no such option: {name}{hint}"


def _no_such_command(message: str, ctx) -> str:
    """``no such command 'prun'; did you mean 'prune'?`` (typer's suggestion, or close names)."""
    name = re.match(r"No such command '([^']*)'", message).group(1)
    commands = sorted(getattr(getattr(ctx, "command", None), "commands", None) or {})
    possible = difflib.get_close_matches(name, commands, n=3, cutoff=0.75)
    if possible:
        return f"no such command '{name}'; did you mean {' or '.join(repr(p) for p in possible)}?"
    return f"no such command '{name}'; the commands are {', '.join(commands)}"


def _with_raw_value(e, message: str) -> str:
    """Make sure a bad value is named: typer >= 0.26 says 'Input should be a valid integer' only."""
    raw = None
    opts = [*getattr(e.param, "opts", []), *getattr(e.param, "secondary_opts", [])]
    args = _run.args if _run is not None else []
    for i, a in enumerate(args):
        for o in opts:
            if a == o and i + 1 < len(args):
                raw = args[i + 1]
            elif a.startswith(o + "="):
                raw = a[len(o) + 1 :]
    if raw is None or repr(raw) in message or f"'{raw}'" in message:
        return message
    return f"{message.rstrip('.')}; got '{raw}'"
