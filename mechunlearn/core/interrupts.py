"""Ctrl-C and SIGTERM: both raise, so the same clean-up runs (staged folders removed).

The command line installs :func:`install`; then SIGINT and SIGTERM raise :class:`Interrupted`
(a ``KeyboardInterrupt``) in the main thread, every ``with staged_dir(...)`` block removes its
half-written folder, and the process exits 130 (SIGINT) or 143 (SIGTERM). Clean-up itself runs
inside :func:`deferred`, so a second signal cannot cut it short; a third one ends the process
at once (the default action), for a clean-up that hangs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised by the handler for SIGINT or SIGTERM; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


_received: list[int] = []  # signals received since install(), in order
_deferring = 0
_pending: int | None = None
_previous: dict[int, object] = {}


def _handler(signum: int, frame) -> None:
    global _pending
    _received.append(signum)
    if len(_received) >= 3:  # a clean-up that hangs: the user insists
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _deferring or len(_received) > 1:
        if _pending is None and len(_received) == 1:
            _pending = signum
        if len(_received) == 2:
            print("still cleaning up; send the signal again to quit at once", file=sys.stderr, flush=True)
        return
    raise Interrupted(signum)


def install() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` (main thread only; a no-op elsewhere)."""
    global _pending
    _received.clear()
    _pending = None
    for sig in HANDLED:
        try:
            _previous.setdefault(sig, signal.getsignal(sig))
            signal.signal(sig, _handler)
        except (ValueError, OSError):  # not the main thread
            return


def uninstall() -> None:
    for sig, old in list(_previous.items()):
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(sig, old)
        del _previous[sig]


def received() -> int | None:
    """The first signal received since :func:`install`, if any."""
    return _received[0] if _received else None


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal until the block ends, then raise it (for clean-up that must finish)."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None:
            signum, _pending = _pending, None
            if not isinstance(sys.exc_info()[1], KeyboardInterrupt):  # else that interrupt goes on
                raise Interrupted(signum)
