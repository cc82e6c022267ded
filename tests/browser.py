"""A real headless browser (Debian's chromium) for tests of the HTML report."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"  # kept after the run (git-ignored)


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (make test installs it where it runs as root: scripts/install_test_tools.sh)")
    return exe


def render(page: Path, screenshot: Path) -> dict[str, tuple[int, int, int]]:
    """Load ``page`` in headless chromium; save a screenshot; return chart name -> (width px, height px, elements)."""
    exe = chromium()
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,4000",
              "--virtual-time-budget=3000"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([*common, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    import re

    m = re.search(r'<body[^>]*data-charts="([^"]*)"', dom)
    assert m, "the page's render check did not run in the browser"
    charts = {}
    for item in filter(None, m.group(1).split(";")):
        name, w, h, n = item.rsplit(" ", 3)
        charts[name] = (int(w), int(h), int(n))
    return charts


def not_blank(png: Path) -> float:
    """Share of the screenshot's pixels that are not the page background."""
    from PIL import Image

    img = Image.open(png).convert("L")
    hist = img.histogram()
    return 1 - max(hist) / sum(hist)
