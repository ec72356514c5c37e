"""The built site in a real browser: every page shows its math, fits a phone, and asks no other host for anything.

The site is built as CI builds it (``mkdocs build --strict``), served from
127.0.0.1, and every page is opened in headless Chromium at 1280 and at 400
pixels wide, driven through the DevTools protocol over a pipe (standard library
only). A page passes when it logs no error, its math is typeset (no TeX left
as text, no MathJax error, no escape shown as a backslash), no cross-reference
is left as its Markdown, it loads nothing from another host (the browser
resolves no other name, and every request is checked), nothing is wider than
the text column unless it scrolls in a box of its own, a name in a table's
first column breaks only at its hyphens and spaces, and at 400 pixels the
page does not scroll sideways. At 1280 pixels no table, no shell command and
no equation (the docstrings' included) needs its box to scroll: each is seen
whole.

Skipped where no Chromium or no mkdocs is installed (CI installs both). With
``MINNET_SITE_SCREENSHOTS=folder`` set, a full-page screenshot of each page
at each width is written there, to look at.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rows import row

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
WIDTHS = (1280, 400)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT = 30.0  # seconds for one page to load and typeset: it takes about one here

# Run in the page once it has loaded and MathJax has typeset it; returns what the test checks.
INSPECT = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
  // A new width starts the theme's transitions (the sidebars slide): measure once they have ended.
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const ending = document.getAnimations().filter((a) => a.effect.getComputedTiming().endTime < Infinity);
  await Promise.all(ending.map((a) => a.finished.catch(() => null)));
  const column = document.querySelector(".md-content__inner");
  // The column with its gutters, into which the theme lets tables and code blocks reach.
  const right = document.querySelector(".md-content").getBoundingClientRect().right + 1;
  const code = "pre, code, script, style, mjx-assistive-mml";
  // TeX left as text: a delimiter, or a command such as \frac or \beta that MathJax never saw.
  const tex = /\\\(|\\\)|\\\[|\\\]|\$\$|\\[a-zA-Z]{2,}/;
  // A cross-reference that mkdocstrings could not resolve stays as its Markdown: [`name`][minnet.path].
  const reference = /\]\[[\w.]+\]/;
  const rawTex = [];
  const unresolved = [];
  const walker = document.createTreeWalker(column, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent;
    if (node.parentElement.closest(code)) continue;
    if (tex.test(text)) rawTex.push(text.trim().slice(0, 80));
    if (reference.test(text)) unresolved.push(text.trim().slice(0, 80));
  }
  const scrolls = (box) => ["auto", "scroll"].includes(getComputedStyle(box).overflowX);
  const boxed = (el) => {
    for (let box = el.parentElement; box && box !== column; box = box.parentElement) {
      if (scrolls(box) && box.getBoundingClientRect().right <= right) return true;
    }
    return false;
  };
  const beyond = (el) => el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().right > right;
  // The outermost element past the column's edge that no scrolling box inside the column holds.
  const wide = [...column.querySelectorAll("*")]
    .filter((el) => beyond(el) && !beyond(el.parentElement) && !boxed(el))
    .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}">: ${el.textContent.trim().slice(0, 60)}`);
  // Tables, shell commands and equations that scroll in their box: a reader would not see all of one at once.
  const scrolling = (selector) => [...column.querySelectorAll(selector)]
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => el.textContent.trim().slice(0, 60));
  // A name in a table's first column (a row's id, a layer) broken inside a word: more lines than it has words.
  const brokenNames = [...column.querySelectorAll("table:not([class]) td:first-child code")]
    .filter((el) => el.getClientRects().length > el.textContent.split(/[-\s]+/).filter(Boolean).length)
    .map((el) => el.textContent.slice(0, 60));
  return {
    math: column.querySelectorAll(".arithmatex").length,
    brokenNames,
    untypeset: [...column.querySelectorAll(".arithmatex")].filter((m) => !m.querySelector("mjx-container")).length,
    texErrors: [...column.querySelectorAll("mjx-merror")].map((e) => e.getAttribute("data-mjx-error") || e.textContent),
    rawTex,
    // A backslash typeset in an equation: an escape MathJax took literally, as \_ inside \text{}.
    backslashes: column.querySelectorAll("mjx-c.mjx-c5C").length,
    unresolved,
    wide,
    scrolled: scrolling(".md-typeset__scrollwrap, .language-bash pre > code"),
    scrolledMath: scrolling("mjx-container[display]"),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    height: document.documentElement.scrollHeight,
  };
})()
"""


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def above_4(fd: int) -> int:
    """``fd`` renumbered to 10 or more, so that moving it to 3 or 4 in the browser cannot close another end."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class DevTools:
    """Headless Chromium driven over ``--remote-debugging-pipe``: JSON messages ending in a NUL byte.

    ``call`` sends a command and returns its result; the events that arrive
    meanwhile are kept in ``events`` (method, params) until cleared.
    """

    def __init__(self, executable: str, profile: Path, allowed_host: str) -> None:
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        to_browser, from_browser = above_4(to_browser), above_4(from_browser)
        flags = [
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            # Every name but the site's resolves to nothing, so a request elsewhere fails here and offline alike.
            f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {allowed_host}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--hide-scrollbars",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run its sandbox as root (CI runs as root)
        # The protocol's pipe is the browser's file descriptors 3 (commands in) and 4 (replies out).
        redirect = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", redirect, executable, *flags, "about:blank"],
            pass_fds=(to_browser, from_browser),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in (to_browser, from_browser):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[tuple[str, dict]] = []

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"the browser closed its pipe (exit code {self.process.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, session: str | None = None, timeout: float = TIMEOUT, **params) -> dict:
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            if "method" in message:
                self.events.append((message["method"], message.get("params", {})))

    def wait_for(self, event: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not any(method == event for method, _ in self.events):
            message = self._receive(deadline)
            if "method" in message:
                self.events.append((message["method"], message.get("params", {})))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
            self.process.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built from this tree as CI builds it, served on 127.0.0.1; yields its base URL."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    pytest.importorskip("mathjax", reason="the docs extra is not installed")
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    """A page (tab) of headless Chromium, as a session id with its DevTools, opened once for every page."""
    executable = chromium()
    if executable is None:
        pytest.skip(f"no browser installed (looked for {', '.join(BROWSERS)})")
    tools = DevTools(executable, tmp_path_factory.mktemp("profile"), "127.0.0.1")
    try:
        target = tools.call("Target.createTarget", url="about:blank")["targetId"]
        session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.call(f"{domain}.enable", session)
        yield tools, session
    finally:
        tools.close()


def page_url(site: str, page: str) -> str:
    """Where mkdocs puts ``docs/<page>`` (directory URLs): ``math.md`` -> ``math/``, ``api/index.md`` -> ``api/``."""
    path = page.removesuffix(".md").removesuffix("index")
    return site + (path + "/" if path and not path.endswith("/") else path)


def load(browser, url: str) -> list[tuple[str, dict]]:
    """Open ``url`` in the browser's page; the browser's events of the load."""
    tools, session = browser
    tools.events.clear()
    tools.call("Page.navigate", session, url=url)
    tools.wait_for("Page.loadEventFired")
    return list(tools.events)


def inspect(browser, width: int) -> dict:
    """What INSPECT finds in the open page laid out ``width`` CSS pixels wide."""
    tools, session = browser
    tools.call(
        "Emulation.setDeviceMetricsOverride", session, width=width, height=900, deviceScaleFactor=1, mobile=False
    )
    found = tools.call("Runtime.evaluate", session, expression=INSPECT, awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in found:
        raise AssertionError(f"the page check failed to run: {found['exceptionDetails']}")
    return found["result"]["value"]


def problems(events: list[tuple[str, dict]], site: str) -> tuple[list[str], list[str]]:
    """The errors the page logged or threw, and the URLs it requested from anywhere but the site."""
    errors, elsewhere = [], []
    for method, params in events:
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"{params['entry']['text']} {params['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith((site, "data:", "blob:", "about:")):
                elsewhere.append(url)
    return errors, elsewhere


def screenshot(browser, page: str, width: int, height: int) -> None:
    folder = os.environ.get("MINNET_SITE_SCREENSHOTS")
    if not folder:
        return
    tools, session = browser
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, 12000), "scale": 1}
    shot = tools.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True, clip=clip)
    name = page.removesuffix(".md").replace("/", "_")
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{name}-{width}.png").write_bytes(base64.b64decode(shot["data"]))


@row("site-names-unbroken")
@row("site-math-escapes")
@row("site-references-resolved")
@pytest.mark.parametrize("page", PAGES)
def test_the_page_renders_offline_and_fits(page, site, browser):
    # Loaded once and laid out at each width: MathJax's output does not depend on the width
    errors, elsewhere = problems(load(browser, page_url(site, page)), site)
    assert errors == [], f"{page} logs errors"
    assert elsewhere == [], f"{page} requests from another host"
    for width in WIDTHS:
        found = inspect(browser, width)
        screenshot(browser, page, width, found["height"])
        math = (found["untypeset"], found["texErrors"], found["rawTex"], found["backslashes"])
        assert math == (0, [], [], 0), f"{page}'s math is not all typeset"
        assert found["unresolved"] == [], f"{page} shows cross-references that lead nowhere"
        assert found["wide"] == [], f"{page} at {width} px: wider than the column, and no box of its own scrolls"
        assert found["brokenNames"] == [], f"{page} at {width} px: a name in a table's first column breaks mid-word"
        assert found["scrollWidth"] <= found["innerWidth"], f"{page} scrolls sideways at {width} px"
        if width == WIDTHS[0]:
            assert found["scrolled"] == [], f"{page} at {width} px: a table or a command scrolls in its box"
            assert found["scrolledMath"] == [], f"{page} at {width} px: an equation scrolls in its box"


def test_the_math_pages_have_math(site, browser):
    """A control for the math checks above: pages known to hold math do, so 'all typeset' is not vacuous."""
    for page in ("math.md", "multiclass.md", "convolution.md"):
        load(browser, page_url(site, page))
        assert inspect(browser, WIDTHS[0])["math"] > 10, page


def test_a_request_elsewhere_and_an_error_are_caught(site, browser):
    """A control for the checks above: a page that loads a font from another host and throws fails them."""
    bad = '<html><body><link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
    bad += "<script>undefined.f()</script></body></html>"
    tools, session = browser
    tools.events.clear()
    tools.call("Page.navigate", session, url="data:text/html;base64," + base64.b64encode(bad.encode()).decode())
    tools.wait_for("Page.loadEventFired")
    errors, elsewhere = problems(list(tools.events), site)
    assert elsewhere == ["https://fonts.googleapis.com/css?family=Roboto"]
    assert any("TypeError" in error for error in errors)
