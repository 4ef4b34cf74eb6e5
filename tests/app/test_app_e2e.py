"""End to end in a real browser: `streamlit run app.py`, headless Chromium driven by Playwright.

Draws a "1" with the mouse, clears it, then runs a Bayesian fit; then visits every page in the
navigation and saves a full-page screenshot of each into $E2E_SCREENSHOT_DIR (default
artifacts/e2e/pages/), plus what the first screen shows (no scrolling) in a 1400 x 1000 and a
1024 x 768 window, for a person to look at: is anything cut off, or below the fold? With
E2E_FULL_TOUR=1 the tour also turns on each page's toggles and presses the buttons its
"Press ..." lines name, so the shots show every result
(about 100 s more on 2 cores: the optimizer sweep and the lambda path; CI leaves it off). Other
screenshots and the server log go to artifacts/e2e/. The server-side time from receiving a drawing
to showing its prediction is read from the page and logged (goal: under 50 ms; reported, never
asserted).

Needs Debian's Chromium at /usr/bin/chromium (`.ci/install-system-packages.sh`); never `playwright
install`.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LATENCY = re.compile(r"server time from drawing to prediction ([\d.]+) ms")
MODEL_TIME = re.compile(r"Model inference ([\d.]+) ms")
PREPROCESS_TIME = re.compile(r"preparing the drawing \(crop, shrink, centre\) ([\d.]+) ms")
PAGE_SHOTS = Path(os.environ.get("E2E_SCREENSHOT_DIR", ARTIFACTS / "pages"))
FULL_TOUR = os.environ.get("E2E_FULL_TOUR") == "1"
# The windows every page is photographed in, as a visitor first sees it (no scrolling).
WINDOWS = ((1400, 1000), (1024, 768))
# A page that waits for a button says "Press <button> ..." (or "Press the button" next to its one
# primary button): the tour presses those, so the shots show results.
PRESS = re.compile(r"Press (?:the button|(.+?))(?= \(|[.:]|$)")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium: install Debian's with .ci/install-system-packages.sh "
        "(apt-get install -y chromium)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit not healthy at {url} after {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """`streamlit run app.py` on a free local port; its log is kept as an artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "server.log"
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import expect, sync_playwright

    # a page's first run imports torch / PyMC: seconds on a busy 2-core machine, not 5 (the default)
    expect.set_options(timeout=60_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(app_url)
        try:
            yield page
        finally:
            shot(page, "last")  # on failure: what the browser showed at the end
            browser.close()


def draw_vertical_stroke(page) -> None:
    """Press, drag straight down through the middle of the canvas, release: a '1'."""
    from playwright.sync_api import expect

    canvas = page.locator("canvas.upper-canvas")
    # After Clear, the old canvas lingers in the DOM until the fresh one has mounted; the first
    # mount loads the component's code, slow on a busy machine.
    expect(canvas).to_have_count(1, timeout=60_000)
    page.wait_for_timeout(300)
    expect(canvas).to_have_count(1)
    box = canvas.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 0.2 * box["height"])
    page.mouse.down()
    for step in range(1, 25):
        page.mouse.move(x, box["y"] + (0.2 + 0.6 * step / 24) * box["height"])
    page.mouse.up()


def timings(page) -> tuple[float, float, float]:
    """(server time, model time, preprocessing time) in ms, as the draw page shows them."""
    text = page.get_by_text(LATENCY).inner_text()
    total, model = float(LATENCY.search(text).group(1)), float(MODEL_TIME.search(text).group(1))
    preprocess = float(PREPROCESS_TIME.search(text).group(1))
    # shown apart, and both inside the server's time (rounding: 0.1 ms)
    assert 0 < model and 0 < preprocess and model + preprocess <= total + 0.1, text
    return total, model, preprocess


def shot(page, name: str, folder: Path = ARTIFACTS) -> Path:
    """The whole page: Streamlit scrolls inside its main area, so the window grows to fit it."""
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = 0
    for _ in range(3):  # grow until nothing scrolls (charts re-layout for the new height)
        tallest = page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))"
        )
        if tallest <= height:
            break
        height = min(tallest + 40, 16_000)
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(500)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def first_screen(page, name: str, window: tuple[int, int], folder: Path = PAGE_SHOTS) -> Path:
    """What a visitor sees in this window before scrolling (the page scrolled back to its top)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": window[0], "height": window[1]})
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; })")
    page.wait_for_timeout(800)  # charts and tables re-layout for the new width
    path = folder / f"{name}-{window[0]}x{window[1]}.png"
    page.screenshot(path=str(path), full_page=False)
    page.set_viewport_size(size)
    return path


def wait_until_idle(page, timeout: float = 300_000) -> None:
    """The script has finished its run and no spinner is left."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)  # a click's rerun may not have started yet
    app = page.locator("[data-testid='stApp']")
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.locator("[data-testid='stSpinner']")).to_have_count(0, timeout=timeout)
    # elements of the previous run (or page) linger, marked stale, until replaced or dropped
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=timeout)


def test_draw_a_one_clear_it_and_fit_the_bayesian_model(page, capsys):
    from playwright.sync_api import expect

    latencies = []
    for attempt in ("cold", "warm 1", "warm 2", "warm 3"):
        draw_vertical_stroke(page)
        expect(page.get_by_text("Prediction: 1", exact=True)).to_be_visible()
        expect(page.get_by_text("What the model saw")).to_be_visible()
        expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_visible()
        latencies.append((attempt, *timings(page)))
        expect(page.get_by_text(PREPROCESS_TIME)).to_be_visible()
        if attempt == "cold":
            shot(page, "1-prediction")

        page.get_by_role("button", name="Clear").click()
        expect(page.get_by_text("The canvas is empty")).to_be_visible()
        expect(page.get_by_text("Prediction: 1", exact=True)).to_have_count(0)
    shot(page, "2-cleared")

    report = "; ".join(
        f"{a}: {total:.1f} ms (preprocessing {prep:.1f} ms, model {model:.2f} ms)"
        for a, total, model, prep in latencies
    )
    (ARTIFACTS / "latency.txt").write_text(
        "server time from receiving the drawing to showing the prediction (goal < 50 ms)\n"
        + report + "\n"
    )  # fmt: skip
    with capsys.disabled():
        print(f"\n[e2e] drawing -> prediction, server side: {report}")

    # the sidebar's link (a page may link to it in its text too)
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Bayesian regression").click()
    expect(page.get_by_role("heading", name="Bayesian polynomial regression")).to_be_visible()
    # the first MAP compiles a PyMC model: allow for a slow, busy CI machine
    coefficients = page.get_by_role("heading", name=re.compile(r"^Coefficients"))
    expect(coefficients.first).to_be_visible(timeout=180_000)
    expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_visible()
    shot(page, "3-bayes-point-estimates")

    page.get_by_role("button", name="Run NUTS").click()
    # the diagnostics (r-hat, effective draws, divergences, ...) as metric tiles
    diagnostics = page.locator("[data-testid='stMetric']")
    expect(diagnostics.nth(3)).to_be_visible(timeout=300_000)
    expect(page.get_by_text("The evidence picks degree")).to_be_visible(timeout=120_000)
    diagnostics.first.scroll_into_view_if_needed()
    shot(page, "4-bayes-posterior")


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24):
    """Canvas points of an elliptic arc, degrees counterclockwise as seen (90 = top)."""
    steps = [start + (end - start) * k / (n - 1) for k in range(n)]
    return [
        (cx + rx * math.cos(math.radians(a)), cy - ry * math.sin(math.radians(a))) for a in steps
    ]


# What a new visitor tries first (issue 20), as pen-down strokes in the 280x280 canvas's pixels.
SHAPES = {
    "A": [[(85, 230), (140, 50), (195, 230)], [(108, 165), (172, 165)]],
    "S": [_arc(140, 95, 50, 45, 20, 270) + _arc(140, 185, 55, 45, 90, -160)],
    "smiley": [
        _arc(140, 140, 95, 95, 90, 450, 48),
        [(108, 105), (108, 120)],
        [(172, 105), (172, 120)],
        _arc(140, 140, 55, 50, 200, 340),
    ],
}
FLAGGED_ONE = [[(110, 95), (155, 50), (155, 230)]]


def draw_strokes(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Each stroke: press at its first point, drag through the others (about 6 px a move, as a
    hand does), release; the page reruns after each release, as it does for a visitor."""
    from playwright.sync_api import expect

    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_have_count(1, timeout=60_000)
    page.wait_for_timeout(300)
    expect(canvas).to_have_count(1)
    box = canvas.bounding_box()
    scale = box["width"] / 280

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + point[0] * scale, box["y"] + point[1] * scale

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for a, b in zip(stroke, stroke[1:], strict=False):
            steps = max(1, int(math.dist(a, b) / 6))
            for k in range(1, steps + 1):
                t = k / steps
                page.mouse.move(*at((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))))
        page.mouse.up()
        wait_until_idle(page)


def test_a_drawn_a_s_and_smiley_are_not_digits_and_a_flagged_one_is_one(page, app_url):
    """Issue 20's visitor: "Not sure this is a digit" for an A, an S and a smiley drawn with the
    mouse (the served graph read the S as a 5 at 99.7% before the look-alike proxies and the
    min-p gate), and a 1 with a flag is read as 1."""
    from playwright.sync_api import expect

    page.goto(app_url)
    expect(page.get_by_text("The canvas is empty")).to_be_visible()
    for name, strokes in [*SHAPES.items(), ("flagged 1", FLAGGED_ONE)]:
        draw_strokes(page, strokes)
        expected = "Prediction: 1" if name == "flagged 1" else "Not sure this is a digit"
        expect(page.get_by_text(expected, exact=True), name).to_be_visible()
        shot(page, f"shape-{name.replace(' ', '-')}")
        page.get_by_role("button", name="Clear").click()
        expect(page.get_by_text("The canvas is empty")).to_be_visible()


def switch_on_visible_toggles(page) -> None:
    """Optional sections behind a toggle or checkbox (not those folded in an expander)."""
    boxes = page.locator("[data-testid='stCheckbox']")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        if box.is_visible() and not box.locator("input").is_checked():
            box.locator("label").first.click()
            wait_until_idle(page)


def press_what_the_page_asks_for(page, rounds: int = 6) -> None:
    """Click each button a 'Press ...' line names (only where the page still asks: NUTS ran)."""
    pressed = set()
    for _ in range(rounds):
        asks = [PRESS.search(t) for t in page.get_by_text("Press ").all_inner_texts()]
        names = [m.group(1) for m in asks if m] or []
        todo = [n for n in names if n not in pressed]
        if not todo:
            return
        name = todo[0]
        pressed.add(name)
        if name is None:  # "Press the button": the page's one primary button
            page.locator("[data-testid='stBaseButton-primary']").first.click()
        else:
            page.get_by_role("button", name=name.strip()).first.click()
        wait_until_idle(page)


def test_every_page_renders_and_is_photographed(page):
    """Each page of the navigation, its run button pressed, as a full-page PNG for review."""
    from playwright.sync_api import expect

    nav = page.locator("[data-testid='stSidebarNav']")
    expect(nav).to_be_visible()
    more = nav.locator("[data-testid='stSidebarNavViewButton']")
    if more.count() and more.inner_text().startswith("View"):
        more.click()
    links = nav.locator("[data-testid='stSidebarNavLink']")
    expect(links.first).to_be_visible()  # run alone (-k), the app may still be loading
    count = links.count()
    assert count >= 6, links.all_inner_texts()  # draw, bayes, four labs (more as pages come)
    shots, errors, seconds = [], [], []
    for number in range(1, count + 1):
        start = time.monotonic()
        link = links.nth(number - 1)
        link.click()
        expect(page).to_have_url(link.get_attribute("href"))
        wait_until_idle(page)
        title = page.locator("h1").first.inner_text()
        if title == "Draw a digit":  # with a digit on the canvas, as a visitor sees it
            draw_vertical_stroke(page)
            expect(page.get_by_text("Prediction: 1", exact=True)).to_be_visible()
        if FULL_TOUR:
            switch_on_visible_toggles(page)
            press_what_the_page_asks_for(page)
        expect(page.locator("h1").first).to_be_visible()
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        seconds.append(f"{title}: {time.monotonic() - start:.1f} s")
        shots.append(shot(page, f"{number}-{slug}", PAGE_SHOTS))
        shots += [first_screen(page, f"{number}-{slug}", window) for window in WINDOWS]
        shown = page.locator("[data-testid='stException']")
        if shown.count():  # every page is still photographed; the failures are listed at the end
            errors.append(f"{title}: {shown.first.inner_text()[:300]}")
    (PAGE_SHOTS / "seconds.txt").write_text("\n".join(seconds) + "\n")  # what the tour costs
    assert all(path.stat().st_size > 10_000 for path in shots), shots
    assert not errors, "pages showing an exception (see the server log):\n" + "\n".join(errors)
