"""A headless Chromium page driven through the DevTools protocol: to look at the demo as a visitor does.

``chromium --screenshot`` takes its picture before a Streamlit page has talked to its server, so this
opens the page, waits until its text shows what is asked for, can type a prompt and press a button,
and then captures the screen. It speaks the protocol over tornado's websocket client (Streamlit
brings tornado), and needs a ``chromium`` binary (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError


class Page:
    """One Chromium tab at ``url``; use as a context manager."""

    def __init__(self, url: str, width: int = 1500, height: int = 1100) -> None:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            raise MechUnlearnError("no chromium found: apt-get install chromium")
        self.profile = tempfile.mkdtemp(prefix="mechunlearn-chromium-")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
             f"--window-size={width},{height}", f"--user-data-dir={self.profile}", url],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        ws = None
        for line in self.proc.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
            m = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                ws = m.group(1)
                break
        if ws is None:
            raise MechUnlearnError("chromium did not open its DevTools port")
        import urllib.request

        for _ in range(50):
            pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{ws}/json").read())
            pages = [p for p in pages if p.get("type") == "page"]
            if pages:
                break
            time.sleep(0.1)
        from tornado.ioloop import IOLoop

        self.loop, self.n = IOLoop(), 0
        self.ws = self.loop.run_sync(lambda: _connect(pages[0]["webSocketDebuggerUrl"]))

    def call(self, method: str, **params):
        self.n += 1
        n = self.n

        async def go():
            await self.ws.write_message(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                msg = json.loads(await self.ws.read_message())
                if msg.get("id") == n:
                    return msg.get("result", {})

        return self.loop.run_sync(go, timeout=120)

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")

    def text(self) -> str:
        return self.js("document.body ? document.body.innerText : ''") or ""

    def wait_for(self, *needles: str, timeout: float = 120.0) -> str:
        """Wait until the page's text holds every one of ``needles`` (and Streamlit is not running)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = self.text()
            busy = self.js("!!document.querySelector('[data-testid=\"stStatusWidget\"]')")
            if all(n in t for n in needles) and not busy:
                return t
            time.sleep(0.5)
        raise MechUnlearnError(f"the page never showed {needles}; it shows: {self.text()[:300]!r}")

    def wait_js(self, expression: str, timeout: float = 60.0, settle: float = 0.0) -> None:
        """Wait until ``expression`` is true in the page (with ``settle``: and its text has not changed
        for that many seconds, so a script still adding elements has finished)."""
        end, last, since = time.monotonic() + timeout, None, time.monotonic()
        while time.monotonic() < end:
            text = self.text()
            if text != last:
                last, since = text, time.monotonic()
            if self.js(expression) and time.monotonic() - since >= settle:
                return
            time.sleep(0.3)
        raise MechUnlearnError(f"the page never made true: {expression}")

    def button_enabled(self, label: str) -> str:
        return (
            "(() => { const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === "
            + json.dumps(label)
            + "); return !!b && !b.disabled; })()"
        )

    def type_into(self, selector: str, value: str) -> None:
        """Focus a text field, type ``value`` into it as a keyboard would, and leave it (Streamlit commits
        a text area's value when it loses focus)."""
        self.js("document.querySelector(" + json.dumps(selector) + ").focus()")
        self.call("Input.insertText", text=value)
        self.js("document.querySelector(" + json.dumps(selector) + ").blur()")

    def click_button(self, label: str) -> None:
        self.js(
            "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === "
            + json.dumps(label)
            + ").click()"
        )

    def screenshot(self, path: str | Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)


async def _connect(url: str):
    from tornado.websocket import websocket_connect

    return await websocket_connect(url, max_message_size=256 * 1024 * 1024)
