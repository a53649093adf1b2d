"""``demo``: start the Streamlit app (``mechunlearn/demo/app.py``) on the base model and the runs given.

The runs are checked first (one base model, one concept; a run of another base model is refused,
naming both), so a mistake is one line and exit 2, not a page with an error. The server binds to
``127.0.0.1`` by default, runs headless and sends no usage statistics: no request leaves the machine.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.demo.runs import read_demo_runs


def demo_command(runs: list[str], model: str | None, concept: str, port: int, host: str) -> list[str]:
    """The ``streamlit run`` command line of the demo."""
    app = importlib.util.find_spec("mechunlearn.demo.app").origin
    extra = [*runs, *(["--model", model] if model else []), "--concept", concept]
    return [
        sys.executable, "-m", "streamlit", "run", app,
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false", "--client.toolbarMode", "minimal",
        "--", *extra,
    ]  # fmt: skip


def demo(runs: list[str], model: str | None, concept: str, port: int, host: str, *, print_fn=print) -> int:
    if importlib.util.find_spec("streamlit") is None:
        raise MechUnlearnError("the demo needs Streamlit, an optional extra: pip install 'mechunlearn[demo]'")
    if not 0 < port < 65536:
        raise MechUnlearnError(f"--port must be a TCP port in 1..65535, got {port}")
    base, found = read_demo_runs(runs, model)
    print_fn(f"demo of {base}" + (f" and {len(found)} run(s)" if found else "") + f": open http://{host}:{port}")
    return subprocess.run(demo_command(runs, model, found[0].concept if found else concept, port, host)).returncode
