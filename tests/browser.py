"""A real headless Chromium for tests, driven through chromedriver's W3C WebDriver protocol
(plain HTTP and JSON, so no client library is needed). The browser has no network: every host
name resolves to nothing and every request goes to a proxy that is not there, so a page that
tried to fetch anything would show it."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

OFFLINE = [
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
]
DRIVER_STARTS = 5


def missing() -> str | None:
    """Why the browser cannot start here, or None."""
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install chromium chromium-driver); .ci/run installs it"
    return None


class Browser:
    """One chromedriver and one browser session; ``close`` ends both."""

    def __init__(self, width: int = 1300, height: int = 1000) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="loadgen-chromium-")
        self.log = Path(self.profile.name) / "chromedriver.log"
        self.port = self._start_driver()
        try:
            options = {
                "binary": shutil.which("chromium"),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    f"--window-size={width},{height}",
                    f"--user-data-dir={self.profile.name}",
                    *OFFLINE,
                ],
            }
            capabilities = {
                "browserName": "chrome",
                "goog:chromeOptions": options,
                "goog:loggingPrefs": {"browser": "ALL"},
            }
            self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})["sessionId"]
        except BaseException:
            self._stop_driver()
            raise

    def _start_driver(self) -> int:
        """chromedriver, started again when the port it chose was taken (``IPv4 port not available``:
        2 starts in 8 here while loads held thousands of ports on 127.0.0.1): the port it listens on."""
        for _ in range(DRIVER_STARTS):
            with self.log.open("wb") as log:  # a file, not a pipe: nothing blocks on what it writes later
                self.driver = subprocess.Popen(
                    [str(shutil.which("chromedriver")), "--port=0"], stdout=log, stderr=subprocess.STDOUT
                )
            try:
                return self._wait_ready()
            except RuntimeError:
                self._stop_driver(keep_profile=True)
                if "port not available" not in self.log.read_text(errors="replace"):
                    break
        self.profile.cleanup()
        raise RuntimeError(f"chromedriver did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def _wait_ready(self, timeout: float = 20.0) -> int:
        """The port chromedriver chose (port 0: no other process can take it first), once it says it listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.driver.poll() is None:
            started = re.search(r"started successfully on port (\d+)", self.log.read_text(errors="replace"))
            if started:
                return int(started.group(1))
            time.sleep(0.05)
        raise RuntimeError("chromedriver did not start")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"WebDriver {method} {path}: {exc.read().decode(errors='replace')}") from None

    def _session(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def run(self, script: str) -> Any:
        """A script's return value (the body of a function: ``return ...``)."""
        return self._session("POST", "/execute/sync", {"script": script, "args": []})

    def console(self) -> list[dict[str, Any]]:
        """What the page logged since the last call: errors, failed loads, console messages."""
        return list(self._session("POST", "/se/log", {"type": "browser"}))

    def screenshot(self, path: Path) -> None:
        """The whole page: the window is grown to the page's height first."""
        height = int(self.run("return document.documentElement.scrollHeight"))
        self._session("POST", "/window/rect", {"width": 1300, "height": min(height + 100, 16_000)})
        path.write_bytes(base64.b64decode(self._session("GET", "/screenshot")))

    def _stop_driver(self, keep_profile: bool = False) -> None:
        self.driver.terminate()
        self.driver.wait(10)
        if not keep_profile:
            self.profile.cleanup()

    def close(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self._stop_driver()
