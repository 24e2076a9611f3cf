"""`dvc plots show` draws its page without network: the page template inlines Vega, Vega-Lite and
Vega-Embed (plots/page/), and DVC is configured to use it."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "plots" / "page" / "index.html"


def test_dvc_uses_the_offline_page_and_it_fetches_nothing():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    assert (ROOT / ".dvc" / config["plots"]["html_template"]).resolve() == PAGE
    page = PAGE.read_text()
    assert "{plot_divs}" in page                     # where DVC puts the figures
    assert "{scripts}" not in page                   # where DVC would put its CDN script tags
    assert not re.search(r"<script[^>]+src=", page)  # every script is inline
    for library in ("vega", "vega-lite", "vega-embed"):
        assert f"{library} " in page.split("-->")[0]  # versions named in the header comment


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


@pytest.mark.skipif(_chromium() is None, reason="no Chromium here: the offline page is checked without a browser")
def test_the_page_draws_a_figure_with_the_network_blocked(tmp_path):
    from dvc_render import VegaRenderer, render_html

    points = [{"epoch": i, "loss": 1.0 / (i + 1)} for i in range(10)]
    renderer = VegaRenderer(points, "loss.json", x="epoch", y="loss", template="linear")
    out = render_html([renderer], tmp_path / "index.html", html_template=PAGE)
    # A proxy that refuses every connection: any script the page tried to fetch would fail.
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
                          "--virtual-time-budget=10000", "--dump-dom", Path(out).resolve().as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "vega-embed" in dom and ("<canvas" in dom or "<svg" in dom)
