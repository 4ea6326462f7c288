"""A learner's first minutes, in a real browser: JupyterLab, Run All, a widget, a plot.

Starts JupyterLab on 127.0.0.1 over a temporary copy of a lesson, opens it in headless Debian
Chromium through Playwright, runs every cell from the Run menu, and checks what a person would
see: no tracebacks, a rendered slider, a matplotlib figure, and an output that follows the slider.

The lesson is `lessons/00_welcome.ipynb`, or `$FTKIT_BROWSER_LESSON`.
A screenshot lands in `artifacts/browser/`. Without Chromium the test skips, except under CI.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LESSON = ROOT / "lessons" / "00_welcome.ipynb"
SCREENSHOTS = ROOT / "artifacts" / "browser"
CHROMIUM = Path(os.environ.get("FTKIT_CHROMIUM", "/usr/bin/chromium"))  # Debian's package
# Flags that work on these machines: no sandbox as root, and no background calls home, which the
# closed network would refuse many times over.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 90
RUN_ALL_S = float(os.environ.get("FTKIT_BROWSER_TIMEOUT", "900"))  # kernel start + torch + lesson
STDERR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
# A traceback, or an error's last line (a SyntaxError's output has no "Traceback" line).
ERROR = re.compile(r"Traceback|^\w*(Error|Exception)\b", re.MULTILINE)


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing on a developer's machine; fail under CI."""
    missing = [] if CHROMIUM.exists() else [f"{CHROMIUM} (run .ci/install-browser)"]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e .[test])")
    if not missing:
        return
    reason = "browser test needs " + " and ".join(missing)
    if under_ci():
        pytest.fail(reason + "; CI must run it", pytrace=False)
    pytest.skip(reason)


def lesson_to_open() -> Path:
    """The notebook under test: lesson 00, or the one ``$FTKIT_BROWSER_LESSON`` names."""
    override = os.environ.get("FTKIT_BROWSER_LESSON")
    if override:
        path = Path(override) if Path(override).is_absolute() else ROOT / override
        assert path.is_file(), f"FTKIT_BROWSER_LESSON={override} does not exist"
        return path
    assert DEFAULT_LESSON.is_file(), f"{DEFAULT_LESSON} is missing"
    return DEFAULT_LESSON


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_lab_settings(settings_dir: Path) -> None:
    """Quiet, deterministic JupyterLab: every cell in the DOM, no news or update toasts."""
    overrides = {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
            "doNotDisturbMode": True,
        },
    }
    for plugin, values in overrides.items():
        path = settings_dir / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def server_env(home: Path) -> dict[str, str]:
    """The server's environment: our Python, ftkit importable, no user config or state."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for name, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ]:
        env[name] = str(home / sub)
    env.setdefault("OMP_NUM_THREADS", "2")  # the machine is shared
    return env


def wait_for_server(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited early:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer in {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM: the server shuts its kernels down (and ipykernel exits if its parent dies)."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab over a copy of the lesson; yields (notebook URL, notebook file name)."""
    require_browser()
    lesson = lesson_to_open()
    print(f"browser test opens {lesson}")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy2(lesson, notebooks / lesson.name)  # the committed lesson is never touched
    write_lab_settings(tmp_path / "lab" / "settings")
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyter.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1"]
    command += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    command += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}"]
    command += ["--LabApp.news_url=None"]
    if os.geteuid() == 0:  # CI and these machines run as root
        command.append("--allow-root")
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            env=server_env(tmp_path / "lab"),
            cwd=notebooks,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={token}", process, log)
        yield f"{base}/lab/tree/{lesson.name}?reset&token={token}", lesson.name
    finally:
        stop_server(process)


def menu(page, top: str, item: str) -> None:
    """Click a menu bar entry, then one of its items (exact label)."""
    page.locator(".lm-MenuBar-itemLabel").get_by_text(top, exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def run_all_cells(page, timeout_s: float) -> None:
    """Run > Run All Cells, as a learner would, then wait until every code cell has run.

    Lessons are committed executed, so their prompts already show numbers: clearing them first
    makes "every prompt has a number" mean "this run reached every cell".
    """
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    # The status bar reads "No Kernel | Initializing" until the kernel is up and connected.
    kernel_idle = page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"\| Idle$"))
    kernel_idle.wait_for(timeout=90_000)
    menu(page, "Edit", "Clear Outputs of All Cells")
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        """([stderr, error]) => {
            const failed = [...document.querySelectorAll(stderr)]
                .some(out => new RegExp(error, 'm').test(out.innerText));
            const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
                .filter(cell => cell.querySelector('.cm-content')?.innerText.trim());
            const prompts = cells.map(cell => cell.querySelector('.jp-InputPrompt')?.innerText);
            const done = cells.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p || ''));
            return failed || done;  // Run All stops at an error: no use waiting for the rest
        }""",
        arg=[STDERR, ERROR.pattern],
        timeout=timeout_s * 1000,
    )
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(
        timeout=timeout_s * 1000
    )


def tracebacks(page) -> list[str]:
    """Error outputs on the page (JupyterLab renders them as stderr text)."""
    return [text for text in page.locator(STDERR).all_inner_texts() if ERROR.search(text)]


def output_state(output) -> tuple[str, tuple[str, ...]]:
    """What an output area shows: its text and the sources of its images."""
    images = output.locator("img")
    sources = tuple(images.nth(i).get_attribute("src") or "" for i in range(images.count()))
    return output.inner_text(), sources


def move_slider(page, interact) -> tuple[str, str]:
    """Press an arrow key on the first slider's handle; the readout before and after."""
    handle = interact.locator(".widget-slider .noUi-handle").first
    readout = interact.locator(".widget-slider .widget-readout").first
    before = readout.inner_text()
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    deadline = time.monotonic() + 10
    while readout.inner_text() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    return before, readout.inner_text()


def wait_for_change(output, before: tuple[str, tuple[str, ...]], timeout_s: float) -> tuple:
    """Poll the output area until it differs from `before` (the kernel re-ran the function)."""
    deadline = time.monotonic() + timeout_s
    now = output_state(output)
    while (now == before or (not now[0].strip() and not now[1])) and time.monotonic() < deadline:
        time.sleep(0.25)
        now = output_state(output)
    return now


def assert_no_errors(page) -> None:
    errors = tracebacks(page)
    assert errors == [], f"a cell raised:\n{errors[0][-2000:]}"
    assert page.get_by_text("Error displaying widget").count() == 0


def assert_explorer_responds(page) -> None:
    """The first `interactive` explorer with a slider: an arrow key changes what it shows."""
    interact = page.locator(".widget-interact").filter(has=page.locator(".widget-slider"))
    assert interact.count() >= 1, "no ipywidgets.interactive explorer with a slider"
    interact = interact.first
    interact.scroll_into_view_if_needed()
    assert interact.locator(".jupyter-widgets").first.is_visible()
    output = interact.locator(".widget-output").first
    before = output_state(output)
    old_value, new_value = move_slider(page, interact)
    assert new_value != old_value, "the arrow key did not move the slider"
    after = wait_for_change(output, before, timeout_s=60)
    assert after != before, f"moving the slider {old_value} -> {new_value} changed nothing"
    assert after[0].strip() or after[1], "the explorer's output is empty after the move"


def test_lesson_runs_and_its_widget_responds_in_chromium(lab: tuple[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    url, name = lab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{Path(name).stem}.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            run_all_cells(page, RUN_ALL_S)
            assert_no_errors(page)
            assert page.locator(".jp-RenderedImage img").count() >= 1, "no matplotlib figure"
            assert_explorer_responds(page)
            assert_no_errors(page)  # the re-run after the slider moved raised nothing either
        finally:
            page.screenshot(path=str(shot))
            browser.close()
    print(f"screenshot: {shot}")
