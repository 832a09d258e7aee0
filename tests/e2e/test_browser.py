"""The HTML report in a real browser: headless Chromium loads a passing and a failing page, and
a script added to a test copy says what the browser made of them: the tables, every picture
drawn, and not one request made. Chromium's own network log says the same from outside.
Skipped where no Chromium is installed (`.ci/run` installs it)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.report.html.page import CSP
from tests.report_pages import report_dirs

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((b for b in BROWSERS if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH")

# Runs in the test copy only (the report itself has no script, and its CSP forbids one).
PROBE = """<script>
window.__blocked = [];
document.addEventListener("securitypolicyviolation",
  e => window.__blocked.push(e.blockedURI || e.violatedDirective));
window.addEventListener("load", () => {
  const images = [...document.images];
  const svgs = [...document.querySelectorAll("svg")];
  const drawn = s => { const b = s.getBBox(), r = s.getBoundingClientRect();
                       return b.width > 0 && b.height > 0 && r.width > 0 && r.height > 0; };
  document.body.setAttribute("data-probe", JSON.stringify({
    tables: document.querySelectorAll("table").length,
    rows: document.querySelectorAll("tr").length,
    images: images.length,
    imagesDrawn: images.filter(i => i.complete && i.naturalWidth > 0).length,
    svgs: svgs.length,
    svgsDrawn: svgs.filter(drawn).length,
    drawings: document.querySelectorAll(".drawing svg").length,
    banner: (document.querySelector(".banner") || {}).textContent || "",
    resources: performance.getEntriesByType("resource").map(e => e.name),
    blocked: window.__blocked,
  }));
});
</script>"""


def _load(page: Path, workdir: Path) -> tuple[dict, list[str]]:
    """What the probe saw in the page, and the URLs that the page asked the network for."""
    text = page.read_text(encoding="utf-8")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    # The copy drops the CSP (which would block a stray fetch, not reveal it) and adds the probe.
    copy = workdir / page.name
    copy.write_text(text.replace(meta, PROBE, 1) if meta in text else PROBE + text, "utf-8")
    netlog = workdir / "net.json"
    proc = subprocess.run(
        [
            BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", f"--user-data-dir={workdir / 'profile'}",
            f"--log-net-log={netlog}", "--virtual-time-budget=5000", "--dump-dom", copy.as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, f"the probe did not run (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1))), _page_requests(netlog)


def _page_requests(netlog: Path) -> list[str]:
    """URLs of requests that a page started (the browser's own have no origin as initiator)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start
        and "url" in e.get("params", {})
        and e["params"].get("initiator") != "not an origin"
    ]


def test_the_probe_sees_a_page_that_fetches(tmp_path: Path) -> None:
    page = tmp_path / "fetches.html"
    page.write_text(
        '<html><body><table><tr><td>x</td></tr></table><img src="http://127.0.0.1:9/a.png">'
        "</body></html>"
    )
    seen, requests = _load(page, tmp_path)
    assert seen["tables"] == 1 and seen["images"] == 1 and seen["imagesDrawn"] == 0
    assert seen["resources"] == ["http://127.0.0.1:9/a.png"]
    assert requests == ["http://127.0.0.1:9/a.png"]


@pytest.mark.parametrize("which", ["pass", "fail"])
def test_the_report_renders_whole_without_a_network(which: str, tmp_path: Path) -> None:
    good, bad = report_dirs()
    folder = good if which == "pass" else bad
    seen, requests = _load(folder / "conformance.html", tmp_path)
    assert requests == [] and seen["resources"] == [] and seen["blocked"] == []
    assert seen["imagesDrawn"] == seen["images"]
    assert seen["svgs"] >= 3 and seen["svgsDrawn"] == seen["svgs"]  # histograms, loss curves
    assert seen["tables"] >= 3 and seen["rows"] > 20
    run = json.loads((folder / "run.json").read_text())
    assert seen["banner"].strip() == run["verdict"]
    if which == "fail":
        assert seen["drawings"] >= 3  # the minimal failing graphs
    else:
        assert seen["drawings"] == 0
