"""report.html of a score run (reporting/score_report.py): `unisync score --plots` on two real clips of
../shared and a text file named .mp4 writes it beside videos.csv, and so do `score-merge` and
`score-report`. Without a browser: the page names every video, has the reasons table and no web address,
every embedded image is a whole file (a browser draws a truncated PNG in part and calls it loaded), and
the fields it may meet (drift, searched range, offsets over time) are rendered. In a real browser (Debian's
headless Chromium, --dump-dom after the page's script ran): one table row per video, every image decoded
(the page's script marks each <img> data-loaded and counts the broken ones on <body>), a corrupted image
caught, and the table sorted by `#sort=` on load and by clicking a header."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import SHARED

from unisync_model.cli import main
from unisync_model.reporting.score_report import COLUMNS, try_score_report, write_score_report

REAL = SHARED / "data" / "clips" / "real"
CLIPS = ("lrs2_deepavsr_00001.mp4", "hdtf_WDA_KatieHill_000.mp4")
BROWSER_TIMEOUT = 120  # seconds; a dump takes 1-2 s


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A `unisync score --plots` folder: two real clips and one unreadable file (a reason row)."""
    missing = [name for name in CLIPS if not (REAL / name).is_file()]
    if missing:
        pytest.skip(f"needs the real clips {missing} in {REAL} (../shared beside the checkout)")
    work = tmp_path_factory.mktemp("score_report")
    paths = [shutil.copy(REAL / name, work / name) for name in CLIPS]
    (work / "broken.mp4").write_text("this is text, not a video\n")
    result = CliRunner().invoke(main, ["score", *map(str, paths), str(work / "broken.mp4"), "--plots", "--jobs", "1",
                                       "--out-dir", str(work / "out")])
    assert result.exit_code == 0, result.output
    return work / "out"


def record(folder: Path) -> dict:
    return json.loads((folder / "scores.json").read_text())


class Dom(HTMLParser):
    """What the checks read of a page: the videos table's rows (data-clip, each cell's data-v), the
    table's data-sorted, every <img>'s attributes, <body>'s attributes."""

    def __init__(self, text: str):
        super().__init__()
        self.rows, self.images, self.body, self.sorted, self._in_videos = [], [], {}, None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._in_videos = attrs.get("id") == "videos"
            if self._in_videos:
                self.sorted = attrs.get("data-sorted")
        elif tag == "tr" and self._in_videos and "data-clip" in attrs:
            self.rows.append({"clip": attrs["data-clip"], "values": []})
        elif tag == "td" and self._in_videos and self.rows:
            self.rows[-1]["values"].append(attrs.get("data-v"))
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "body":
            self.body = attrs

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_videos = False

    def column(self, key: str) -> list:
        j = [k for k, _, _ in COLUMNS].index(key)
        return [row["values"][j] for row in self.rows]


def browser_dom(page: Path, tmp_path: Path, fragment: str = "") -> Dom:
    """The page's DOM after its scripts ran, as Debian's headless Chromium dumps it."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs Debian's chromium for the browser checks (apt-get install chromium; .ci/run installs it)")
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", page.as_uri() + fragment],
                         capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False)
    assert out.returncode == 0 and "</html>" in out.stdout, out.stderr[-2000:]
    return Dom(out.stdout)


def assert_every_image_loaded(dom: Dom, at_least: int) -> None:
    assert len(dom.images) >= at_least
    assert dom.body.get("data-images") == str(len(dom.images)), "the page's script did not run to the end"
    not_loaded = [(i, a.get("alt")) for i, a in enumerate(dom.images) if a.get("data-loaded") != "1"]
    assert not not_loaded and dom.body.get("data-broken-images") == "0", not_loaded


# ------------------------------------------------------------------- the page itself, no browser


def test_score_writes_a_self_contained_report_naming_every_video(run):
    page = (run / "report.html").read_text()
    videos = record(run)["videos"]
    assert len(videos) == 3 and sum(v["status"] == "ok" for v in videos) >= 1, [v["reason"] for v in videos]
    for video in videos:
        assert f'data-clip="{video["clip_id"]}"' in page
    assert 'id="reasons"' in page and "unreadable" in page  # the text file's reason
    assert "http://" not in page and "https://" not in page
    references = [value for _, value in re.findall(r"""\b(?:src|href)=(["']?)([^"'\s>]*)""", page)]
    assert references and all(value.startswith(("data:", "#")) for value in references), references
    images = re.findall(r'src="data:image/(png|jpeg);base64,([^"]*)"', page)
    assert len(images) >= 4  # the histogram; the plot, face and offsets over time of the scored clip
    for kind, text in images:  # whole files (a browser shows a truncated one in part, as if it were fine)
        data = base64.b64decode(text, validate=True)
        assert data.endswith(b"IEND\xaeB`\x82" if kind == "png" else b"\xff\xd9")
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is not None


def test_the_report_renders_drift_range_and_offsets_over_time(tmp_path):
    """A hand-made scores.json with the optional fields: a drifting video's rate, the searched range,
    an over-time figure; an unreadable video path costs its thumbnail with a note, not the report."""
    window = [{"start_s": 2.0 * k, "end_s": 2.0 * k + 10, "offset_frames": k if k != 2 else None,
               "confidence": 0.3} for k in range(5)]
    video = {"video": "gone/<away>.mp4", "clip_id": "gone/<away>", "status": "ok", "reason": "", "offset_frames": 3,
             "offset_ms": 120.0, "confidence": 0.4, "min_dist": 1.1, "verdict": "out of sync", "speech_share": 0.5,
             "frames": 500, "plot": "", "searched_range_frames": 75, "drift": True, "drift_ms_per_min": -12.5,
             "curve": [1.0 + abs(j - 12) / 10 for j in range(31)],
             "segment_scores": [{"segment": 0, "first_frame": 0, "stop_frame": 500, "track": 0, "chosen": True,
                                 "box": [10, 10, 50, 50], "over_time": window}]}
    (tmp_path / "scores.json").write_text(json.dumps({"scorer": "training-free", "vshift": 15, "videos": [video]}))
    page = write_score_report(tmp_path).read_text()
    assert "yes (-12.5 ms/min)" in page and "±75 frames (±3 s)" in page
    assert "gone/&lt;away&gt;" in page and "<away>" not in page  # escaped
    assert page.count("<img ") == 2  # the histogram and the curve with the offsets over time
    assert "no face thumbnail: the video is not readable from here" in page


def test_a_failed_report_is_logged_not_raised(tmp_path, caplog):
    (tmp_path / "scores.json").write_text("{not json")
    assert try_score_report(tmp_path) is None
    assert "score report not written" in caplog.text


def test_score_merge_and_score_report_write_it_too(run, tmp_path):
    merged = tmp_path / "merged"
    result = CliRunner().invoke(main, ["score-merge", str(run), "--out-dir", str(merged)])
    assert result.exit_code == 0, result.output
    assert (merged / "report.html").is_file() and "plots/" in json.dumps(record(merged))
    (merged / "report.html").unlink()
    result = CliRunner().invoke(main, ["score-report", str(merged)])
    assert result.exit_code == 0 and (merged / "report.html").is_file(), result.output
    assert CliRunner().invoke(main, ["score-report", str(tmp_path)]).exit_code == 1  # no scores.json


# ------------------------------------------------------------------- in a real browser


def test_in_a_browser_every_row_is_there_and_every_image_loads(run, tmp_path):
    dom = browser_dom(run / "report.html", tmp_path)
    assert [row["clip"] for row in dom.rows] == [v["clip_id"] for v in record(run)["videos"]]
    scored_with_plot = [v for v in record(run)["videos"] if v["plot"]]
    # the histogram, and per video with a plot: the plot, the face, the offsets over time
    assert_every_image_loaded(dom, at_least=1 + 3 * len(scored_with_plot))


def test_in_a_browser_the_merged_folders_report_loads_its_plots(run, tmp_path):
    merged = tmp_path / "merged"
    CliRunner().invoke(main, ["score-merge", str(run), "--out-dir", str(merged)])
    dom = browser_dom(merged / "report.html", tmp_path)
    assert len(dom.rows) == 3
    assert_every_image_loaded(dom, at_least=4)


def test_in_a_browser_a_corrupted_image_is_caught(run, tmp_path):
    """The check above can fail: one image's bytes corrupted (its data: URI still well-formed)."""
    page = (run / "report.html").read_text()
    start = page.index("data:image/png;base64,") + len("data:image/png;base64,")
    (tmp_path / "report.html").write_text(page[:start] + "AAAA" * 40 + page[start + 160:])
    dom = browser_dom(tmp_path / "report.html", tmp_path)
    assert dom.body.get("data-broken-images") == "1"
    assert [a.get("data-loaded") for a in dom.images].count("0") == 1


def numbers(values: list) -> list:
    return [float(v) if v else None for v in values]


def test_in_a_browser_sort_on_load_by_the_fragment(run, tmp_path):
    dom = browser_dom(run / "report.html", tmp_path, "#sort=speech_share")
    shares = numbers(dom.column("speech_share"))
    known = sorted(s for s in shares if s is not None)
    assert dom.sorted == "speech_share asc" and shares == known + [None] * (len(shares) - len(known))  # empty last
    dom = browser_dom(run / "report.html", tmp_path, "#sort=-reason")
    reasons = dom.column("reason")
    given = sorted((r for r in reasons if r), key=str.lower, reverse=True)
    assert dom.sorted == "reason desc" and reasons == given + [""] * (len(reasons) - len(given))


@pytest.mark.parametrize("clicks", [1, 2])
def test_in_a_browser_a_click_on_a_header_sorts_and_a_second_reverses(run, tmp_path, clicks):
    page = (run / "report.html").read_text()
    script = "var th=document.querySelector('#videos th[data-key=video]');" + "th.click();" * clicks
    (tmp_path / "report.html").write_text(page.replace("</body>", f"<script>{script}</script></body>"))
    dom = browser_dom(tmp_path / "report.html", tmp_path)
    assert dom.sorted == ("video asc" if clicks == 1 else "video desc")
    assert dom.column("video") == sorted(dom.column("video"), key=str.lower, reverse=clicks == 2)
