"""report.html in a real headless Chromium: the plots render and the page makes no request.

Needs Debian's ``chromium`` (the test setup runs ``apt-get install -y chromium``). Without it the
tests skip, unless the environment variable CI is set: then they fail.

How "no request" is proven: Chromium writes a net log of every URL request it makes; requests
the page causes carry the page's origin as initiator, the browser's own background requests
carry none ("not an origin"). A canary HTTP server on 127.0.0.1 counts hits as well. Control
runs show both detectors fire on the same page with an ``<img>`` pointing at the canary once
the CSP is removed, and that the page's CSP alone blocks that image.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_cases import CLUSTERS, conv, make_report
from report_png import count_colour, read_png

from edge_eval.report import render_html
from edge_eval.report.html import DESIRED_COLOUR, LINE_COLOURS, PERCEIVED_COLOUR

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # the browser's own background requests must not reach the network from a test
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1000,1600",
)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing but CI is set: the test setup must install it")
    pytest.skip(f"{CHROMIUM} is absent (Debian: apt-get install -y chromium); CI is not set")


class _Canary(BaseHTTPRequestHandler):
    hits: list[str] = []

    def _any(self) -> None:
        type(self).hits.append(self.requestline)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_CONNECT = do_OPTIONS = _any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def canary() -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []
    handler = type("Canary", (_Canary,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Run:
    dom: str
    png: Path
    page_requests: list[str]


def open_page(chromium: Path, page: Path, tmp_path: Path) -> Run:
    netlog, png = tmp_path / "netlog.json", tmp_path / "shot.png"
    result = subprocess.run(
        [
            str(chromium),
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--log-net-log={netlog}",
            f"--screenshot={png}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return Run(dom=result.stdout, png=png, page_requests=page_requests(netlog))


def page_requests(netlog: Path) -> list[str]:
    """URLs of the requests the page caused, from Chromium's net log."""
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut off at exit lacks its closing brackets
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    kinds = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        started = kinds.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params
        if started and params.get("initiator") != "not an origin":
            urls.append(params["url"])
    return urls


def browser_report() -> dict[str, Any]:
    rng = np.random.default_rng(4)
    scores = []
    for cluster, n, desired in zip(CLUSTERS, (30, 24, 6), (2.7, 1.9, 1.4), strict=True):
        for _ in range(n):
            turns = np.clip(rng.normal(3.5, 0.8, size=int(rng.integers(2, 8))), 1, 5)
            scores.append(conv(cluster, desired, *turns.tolist()))
    return make_report(scores)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_plots_render(chromium: Path, tmp_path: Path, canary: tuple[int, list[str]]) -> None:
    d = browser_report()
    assert [c["status"] for c in d["clusters"]] == ["published", "published", "withheld"]
    html = render_html(d)
    page = tmp_path / "report.html"
    page.write_text(html)
    run = open_page(chromium, page, tmp_path)

    # the DOM Chromium built holds the plots: 2 bars for each of 2 clusters + overall, and
    # a line for each of them
    assert len(re.findall(r'<rect class="bar bar-desired"', run.dom)) == 3
    assert len(re.findall(r'<rect class="bar bar-perceived"', run.dom)) == 3
    assert len(re.findall(r'<polyline class="line"', run.dom)) == 3
    assert "withheld (fewer than 11 conversations)" in run.dom

    # the screenshot shows them: bar colours cover at least 80% of the bars' area, and each
    # cluster's line colour covers most of a 2-pixel stroke along its length
    _, _, rows = read_png(run.png.read_bytes())
    for key, colour in (("desired", DESIRED_COLOUR), ("perceived", PERCEIVED_COLOUR)):
        area = sum(
            float(w) * float(h)
            for w, h in re.findall(
                rf'class="bar bar-{key}"[^>]*width="([\d.]+)" height="([\d.]+)"', html
            )
        )
        assert area > 1000
        assert count_colour(rows, hex_rgb(colour)) >= 0.8 * area, key
    for i in range(2):
        points = re.findall(rf'data-group="{CLUSTERS[i]}" points="([^"]+)"', html)[0].split()
        xy = np.array([[float(v) for v in p.split(",")] for p in points])
        length = float(np.sum(np.hypot(*np.diff(xy, axis=0).T)))
        assert count_colour(rows, hex_rgb(LINE_COLOURS[i])) >= 0.5 * 2 * length, CLUSTERS[i]

    # and it made no request
    assert run.page_requests == []
    assert canary[1] == []


def test_a_request_is_detected_and_the_csp_blocks_it(
    chromium: Path, tmp_path: Path, canary: tuple[int, list[str]]
) -> None:
    port, hits = canary
    html = render_html(browser_report())
    url = f"http://127.0.0.1:{port}/canary.png"
    leaky = html.replace("<body>", f'<body><img src="{url}" alt="">', 1)
    assert leaky != html

    # control 1: without the CSP, the image is fetched, and both detectors see it
    no_csp = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", leaky)
    assert no_csp != leaky
    page = tmp_path / "no-csp" / "report.html"
    page.parent.mkdir()
    page.write_text(no_csp)
    run = open_page(chromium, page, page.parent)
    assert url in run.page_requests
    assert any("/canary.png" in hit for hit in hits)

    # control 2: the report's CSP blocks the same image: no request at all
    hits.clear()
    page = tmp_path / "csp" / "report.html"
    page.parent.mkdir()
    page.write_text(leaky)
    run = open_page(chromium, page, page.parent)
    assert run.page_requests == []
    assert hits == []
