"""The demo as a visitor sees it: start-up and generation times, and the README's screenshot.

    python bench/demo_screenshot.py [RUN ...] [--prompt TEXT] [--name NAME]

Starts ``mechunlearn demo RUN ...`` on a free localhost port, opens it in headless Chromium
(``mechunlearn.demo.browser.Page``), types the prompt, presses Generate, waits for every column and
takes the screenshot. Writes ``bench/demo/<name>.png`` and ``bench/demo/<name>.json``: seconds to the
server's health answer and to the page showing every column, from pressing Generate to the last
column's end (the models load on the first Generate, so this includes loading them once), each
column's generation seconds as the page reports them (loading excluded), the page's text, the
command and the library versions.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mechunlearn.core.versions import library_versions
from mechunlearn.demo.browser import Page

HERE = Path(__file__).parent / "demo"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*")
    p.add_argument("--model", default=None)
    p.add_argument("--prompt", default="Harry Potter's two best friends at school are Ron Weasley and")
    p.add_argument("--name", default="bundled")
    a = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = ["mechunlearn", "demo", *a.runs, *(["--model", a.model] if a.model else []), "--port", str(port)]
    t0 = time.perf_counter()
    server = subprocess.Popen([str(Path(sys.executable).with_name("mechunlearn")), *cmd[1:]])
    rec: dict = {"command": " ".join(cmd), "prompt": a.prompt}
    try:
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        rec["seconds_to_health"] = round(time.perf_counter() - t0, 1)
        with Page(f"http://127.0.0.1:{port}", width=1600, height=1200) as page:
            page.wait_for("Generate", "base:")
            rec["seconds_to_page"] = round(time.perf_counter() - t0, 1)
            page.type_into("textarea", a.prompt)
            page.wait_js(page.button_enabled("Generate"))
            page.click_button("Generate")
            t1 = time.perf_counter()
            n = 1 + len(a.runs)
            page.wait_js(f"(document.body.innerText.match(/generated in/g) || []).length >= {n}", timeout=1800)
            rec["seconds_generate_with_first_load"] = round(time.perf_counter() - t1, 1)
            page.wait_js("true", settle=3.0)  # the rest of the page (scorecards) drawn
            text = page.text()
            HERE.mkdir(exist_ok=True)
            page.screenshot(HERE / f"{a.name}.png")
        rec["generation_seconds"] = [float(x) for x in re.findall(r"generated in ([0-9.]+) s", text)]
        rec["page_text"] = text
        rec["versions"] = library_versions()
        (HERE / f"{a.name}.json").write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
        print(json.dumps({k: v for k, v in rec.items() if k != "page_text"}, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
