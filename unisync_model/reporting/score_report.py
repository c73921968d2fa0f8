"""report.html of a `unisync score` output folder: one self-contained page (no external address; the
images are data: URIs, the style and script inline) to look at a score run without opening CSVs.

- a table of the videos, sorted by clicking a header (again: the other way round); `report.html#sort=
  confidence` (or `#sort=-confidence`, descending) sorts on load, by a column's key (COLUMNS);
- an offset histogram of the scored videos, and the reasons of the others (reason × count, the videos);
- per video with a face (scored, or e.g. beyond the searched range), the first FIGURES of them: its
  plots/<clip>.png when `--plots` drew one, else its distance curve drawn here; its offsets over time
  (each segment's sliding windows, when scores.json has them); a thumbnail of the chosen face (the first
  chosen segment's box in the frame at that segment's middle, decoded by ffmpeg).

It reads only the folder's files (scores.json and the plots), so it works on a `score-merge` folder too.
The page's script marks each <img> with data-loaded="1" or "0" once the page has loaded and counts the
broken ones in <body data-broken-images>, so a headless browser's DOM dump shows what rendered.
"""
from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.media import MediaError, file_url, probe
from unisync_model.settings import FPS

log = logging.getLogger(__name__)

FIGURES = 200  # videos that get figures and a thumbnail (each about 50-100 kB of the page); the table has all
SHOWN_PER_REASON = 50  # videos listed under each reason
THUMB_HEIGHT = 112  # pixels
FFMPEG_TIMEOUT = 120  # seconds, one frame

# key (what #sort= names), header, kind: the table's columns
COLUMNS = [("video", "video", "text"), ("verdict", "verdict", "text"), ("offset_frames", "offset_frames", "num"),
           ("offset_ms", "offset_ms", "num"), ("confidence", "confidence", "num"), ("min_dist", "min_dist", "num"),
           ("speech_share", "speech_share", "num"), ("searched_range", "searched range", "num"),
           ("drift", "drift", "num"), ("reason", "reason", "text")]

STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}th{background:#eee}
#videos th{cursor:pointer;user-select:none}#videos th:hover{background:#ddd}td.num{text-align:right}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
.note{color:#666;font-size:90%}section.video{border-top:1px solid #ccc;margin-top:1em}
img{max-width:100%}.figs{display:flex;flex-wrap:wrap;align-items:flex-start;gap:6px}
.thumb{height:""" + str(THUMB_HEIGHT) + "px}"

SCRIPT = """(function(){
var table=document.getElementById('videos'),body=table.tBodies[0],heads=table.tHead.rows[0].cells;
function value(row,col,num){var v=row.cells[col].getAttribute('data-v');
 if(v===null||v==='')return null;return num?parseFloat(v):v.toLowerCase();}
function sortBy(col,desc){var num=heads[col].getAttribute('data-kind')==='num';
 var rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=value(a,col,num),y=value(b,col,num);
  if(x===null||y===null)return x===y?0:(x===null?1:-1);var c=x<y?-1:(x>y?1:0);return desc?-c:c;});
 rows.forEach(function(r){body.appendChild(r);});
 Array.prototype.forEach.call(heads,function(th){th.removeAttribute('data-dir');});
 heads[col].setAttribute('data-dir',desc?'desc':'asc');
 table.setAttribute('data-sorted',heads[col].getAttribute('data-key')+(desc?' desc':' asc'));}
Array.prototype.forEach.call(heads,function(th,col){th.addEventListener('click',function(){
 sortBy(col,table.getAttribute('data-sorted')===th.getAttribute('data-key')+' asc');});});
var m=/^#sort=(-?)(\\w+)$/.exec(location.hash);
if(m)Array.prototype.forEach.call(heads,function(th,col){
 if(th.getAttribute('data-key')===m[2])sortBy(col,m[1]==='-');});
window.addEventListener('load',function(){var broken=0;
 Array.prototype.forEach.call(document.images,function(img){var ok=img.complete&&img.naturalWidth>0;
  img.setAttribute('data-loaded',ok?'1':'0');if(!ok)broken++;});
 document.body.setAttribute('data-images',String(document.images.length));
 document.body.setAttribute('data-broken-images',String(broken));});
})();"""


def write_score_report(out_dir: str | Path, figures: int | None = None) -> Path:
    """Write out_dir/report.html (atomically) from out_dir/scores.json and the plots beside it; return
    its path. `figures`: how many videos (in the file's order) get figures and a face thumbnail."""
    out_dir = Path(out_dir)
    record = json.loads((out_dir / "scores.json").read_text(encoding="utf-8"))
    path = out_dir / "report.html"
    write_atomic(path, render(record, out_dir, FIGURES if figures is None else figures))
    return path


def try_score_report(out_dir: str | Path) -> Path | None:
    """write_score_report, or a logged warning: `unisync score` has written its tables already, and a
    report is never worth failing the run for."""
    try:
        path = write_score_report(out_dir)
    except Exception as err:
        log.warning("score report not written: %s: %s", type(err).__name__, err)
        return None
    log.info("score report: %s", path)
    return path


def render(record: dict, out_dir: Path, figures: int) -> str:
    """The whole page."""
    videos = record.get("videos", [])
    scored = [v for v in videos if _scored(v)]
    verdicts = Counter(str(v.get("verdict") or "") for v in scored)
    faced = [(i, v) for i, v in enumerate(videos) if _has_section(v)]
    shown = faced[:figures]  # (index, video) with a section of figures
    e = html.escape
    counts = ", ".join(f"{e(k)} × {n}" for k, n in verdicts.most_common())
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>UniSync score report: {len(videos)} videos</title><style>{STYLE}</style></head><body>",
             "<h1>UniSync score report</h1>",
             f"<p>Scorer: <b>{e(str(record.get('scorer', '')))}</b>. {e(str(record.get('description', '')))}</p>",
             (f"<p>{len(videos)} videos: {len(scored)} scored ({counts}), {len(videos) - len(scored)} without a "
              "score.</p>"),
             (f'<p class="note">{e(str(record.get("convention", "")))} Click a column\'s header to sort by it '
              "(again: reversed); report.html#sort=KEY (#sort=-KEY: descending) sorts on load.</p>"),
             video_table(videos, record, {i for i, _ in shown}),
             "<h2>Offsets of the scored videos</h2>", histogram_html(scored),
             "<h2>Videos without a score</h2>", reasons_html(videos),
             ('<h2>Videos with a face</h2><p class="note">Scored, or with face segments (e.g. beyond the searched '
              "range): the chosen face, the curves and the offsets over time.</p>")]
    if len(faced) > figures:
        parts.append(f"<p class=\"note\">Figures for the first {figures} of {len(faced)} videos "
                     "(`unisync score-report DIR --figures N` draws more).</p>")
    parts += [video_section(i, v, record, out_dir) for i, v in shown]
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def _scored(video: dict) -> bool:
    return video.get("status") == "ok" and video.get("offset_frames") is not None


def _has_section(video: dict) -> bool:
    return _scored(video) or bool(video.get("segment_scores"))


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def cells(video: dict, record: dict) -> list[tuple[str, str]]:
    """(shown text, sort value) per column of COLUMNS."""
    def num(key, fmt):
        x = _number(video.get(key))
        return ("", "") if x is None else (format(x, fmt), repr(x))
    searched = _number(video.get("searched_range_frames", record.get("vshift")))
    drift, rate = video.get("drift"), _number(video.get("drift_ms_per_min"))
    drift_text = ("" if drift is None else
                  ("yes" if drift else "no") + ("" if rate is None else f" ({rate:+.1f} ms/min)"))
    share = _number(video.get("speech_share"))
    return [(str(video.get("video", "")), str(video.get("video", ""))),
            (str(video.get("verdict") or ""), str(video.get("verdict") or "")),
            num("offset_frames", "+.0f"), num("offset_ms", "+.0f"), num("confidence", ".3f"), num("min_dist", ".3f"),
            ("", "") if share is None else (f"{share:.0%}", repr(share)),
            ("", "") if searched is None else (f"±{searched:.0f} frames (±{searched / FPS:g} s)", repr(searched)),
            (drift_text, "" if drift is None else repr(rate if rate is not None else float(bool(drift)))),
            (str(video.get("reason") or ""), str(video.get("reason") or ""))]


def video_table(videos: list[dict], record: dict, sections: set[int]) -> str:
    """The sortable table: a row per video, each cell with its sort value in data-v (empty: none); a
    video with a section of figures links to it."""
    e = html.escape
    head = "".join(f'<th data-key="{key}" data-kind="{kind}">{e(label)}</th>' for key, label, kind in COLUMNS)
    rows = []
    for i, video in enumerate(videos):
        tds = []
        for (key, _, kind), (text, sort) in zip(COLUMNS, cells(video, record)):
            shown = f'<a href="#v{i}">{e(text)}</a>' if key == "video" and i in sections else e(text)
            tds.append(f'<td{" class=num" if kind == "num" else ""} data-v="{e(sort)}">{shown}</td>')
        rows.append(f'<tr data-clip="{e(str(video.get("clip_id", "")))}">{"".join(tds)}</tr>')
    return (f'<table id="videos" data-sorted=""><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(rows)
            + "\n</tbody></table>")


def reason_kind(reason: str) -> str:
    """What a reason is counted under: as `unisync score`'s summary line counts it (before ':' and ' (')."""
    return reason.split(":")[0].split(" (")[0]


def reasons_html(videos: list[dict]) -> str:
    e = html.escape
    groups = defaultdict(list)
    for video in videos:
        if not _scored(video):
            groups[reason_kind(str(video.get("reason") or "no reason given"))].append(video)
    if not groups:
        return "<p>Every video was scored.</p>"
    rows = []
    for kind, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        listed = "".join(f"<li>{e(str(v.get('video', '')))}: {e(str(v.get('reason') or ''))}</li>"
                         for v in members[:SHOWN_PER_REASON])
        more = f"<li>… and {len(members) - SHOWN_PER_REASON} more</li>" if len(members) > SHOWN_PER_REASON else ""
        rows.append(f"<tr><td>{e(kind)}</td><td class=num>{len(members)}</td><td><ul>{listed}{more}</ul></td></tr>")
    return ('<table id="reasons"><thead><tr><th>reason</th><th>videos</th><th>which</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def png_bytes(fig, dpi: int = 80) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def img(data: bytes, alt: str, mime: str = "image/png", css: str = "") -> str:
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<img src="{uri}" alt="{html.escape(alt)}"{f" class={css}" if css else ""}>'


def histogram_html(scored: list[dict]) -> str:
    if not scored:
        return "<p>No video was scored.</p>"
    from matplotlib.figure import Figure
    offsets = np.array([int(v["offset_frames"]) for v in scored])
    fig = Figure(figsize=(7, 2.8))
    fig.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.18)
    ax = fig.subplots()
    ax.axvspan(-1.5, 1.5, color="tab:green", alpha=0.12, label="in sync (|offset| ≤ 1)")
    ax.hist(offsets, bins=np.arange(offsets.min() - 0.5, offsets.max() + 1.5), color="tab:blue", edgecolor="white")
    ax.set_xlim(min(offsets.min(), -3) - 1, max(offsets.max(), 3) + 1)
    ax.set_xlabel("AV offset (frames at 25 fps; > 0: the audio leads)")
    ax.set_ylabel("videos")
    ax.set_title(f"{len(scored)} scored videos", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return img(png_bytes(fig), "offset histogram")


def curve_offsets(video: dict, record: dict) -> np.ndarray:
    """The offset of each point of the video's curve: scores.json's `offsets` when they match it."""
    n = len(video["curve"])
    offsets = record.get("offsets") or []
    return np.array(offsets) if len(offsets) == n else (n - 1) // 2 - np.arange(n)


def own_figure(video: dict, record: dict, with_curve: bool) -> bytes | None:
    """The distance curve (when `with_curve`: no plot file shows it) and the offsets over time (each
    segment's sliding windows; none when scores.json has no `over_time`), side by side."""
    from matplotlib.figure import Figure
    series = [s for s in video.get("segment_scores") or [] if s.get("over_time")]
    panels = [draw for draw, wanted in ((draw_curve, with_curve and video.get("curve")), (draw_over_time, series))
              if wanted]
    if not panels:
        return None
    fig = Figure(figsize=(4.5 * len(panels), 3))
    fig.subplots_adjust(left=0.1, right=0.9, top=0.88, bottom=0.17, wspace=0.35)
    for draw, ax in zip(panels, np.atleast_1d(fig.subplots(1, len(panels)))):
        draw(ax, video, record, series)
    return png_bytes(fig)


def _nan(value) -> float:
    return np.nan if value is None else float(value)


def draw_curve(ax, video: dict, record: dict, series: list) -> None:
    ax.plot(curve_offsets(video, record), [_nan(c) for c in video["curve"]], color="black")
    if _scored(video):
        ax.axvline(video["offset_frames"], color="tab:red", ls="--", lw=1)
    ax.set(xlabel="offset (frames; > 0: the audio leads)", ylabel="mean distance")
    ax.set_title("distance over offsets", fontsize=9)


def draw_over_time(ax, video: dict, record: dict, series: list) -> None:
    """Each segment's window offsets at the windows' centres (the chosen tracks bold), their confidence
    in grey on the right axis, the video's offset dashed."""
    confidence = ax.twinx()
    for s in series:
        t = [(w["start_s"] + w["end_s"]) / 2 for w in s["over_time"]]
        ax.plot(t, [_nan(w.get("offset_frames")) for w in s["over_time"]], "o-", ms=4,
                lw=1.5 if s.get("chosen") else 0.8, alpha=1 if s.get("chosen") else 0.5,
                label=f"segment {s.get('segment')} (track {s.get('track')})")
        confidence.plot(t, [_nan(w.get("confidence")) for w in s["over_time"]], color="grey", lw=0.7, alpha=0.6)
    if _scored(video):
        ax.axhline(video["offset_frames"], color="tab:red", ls="--", lw=1)
    end = max([int(video.get("frames") or 0) / FPS] + [w["end_s"] for s in series for w in s["over_time"]])
    ax.set(xlabel="time (s)", ylabel="offset (frames)", xlim=(0, end))
    confidence.set_ylabel("confidence (grey)")
    ax.set_title("offset over time (sliding windows)", fontsize=9)
    ax.legend(fontsize=6, loc="upper left")


def video_path(video: str, out_dir: Path) -> Path | None:
    """The video as given to `unisync score` (absolute, or relative to where it ran, tried from here
    and from the output folder)."""
    for path in (Path(video), out_dir / video):
        if path.is_file():
            return path
    return None


def face_thumbnail(video: dict, out_dir: Path) -> tuple[bytes | None, str]:
    """(JPEG of the chosen face, "") or (None, why not): the box of the first chosen segment, in the frame
    at the middle of that segment (display pixels, as the tracks stage measures boxes)."""
    import cv2
    segment = next((s for s in video.get("segment_scores") or [] if s.get("chosen") and s.get("box")), None)
    if segment is None:
        return None, "no chosen face segment with a box"
    path = video_path(str(video.get("video", "")), out_dir)
    if path is None:
        return None, "the video is not readable from here (moved, or a path relative to another folder)"
    try:
        info = probe(path)
    except MediaError as err:
        return None, f"the video is not readable: {err}"
    middle = (int(segment["first_frame"]) + int(segment["stop_frame"])) // 2
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{(middle + 0.5) / FPS:.3f}", "-i", file_url(path),
           "-frames:v", "1", "-vf", f"scale={info.width}:{info.height}", "-f", "image2pipe", "-c:v", "png", "-"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return None, "decoding the frame took too long"
    frame = cv2.imdecode(np.frombuffer(out.stdout, np.uint8), cv2.IMREAD_COLOR) if out.stdout else None
    if frame is None:
        return None, "the frame could not be decoded: " + out.stderr.decode(errors="replace").strip()[-200:]
    x1, y1, x2, y2 = segment["box"]
    pad = 0.15 * max(x2 - x1, y2 - y1)  # a little of the head around the face box
    h, w = frame.shape[:2]
    x1, y1 = max(0, int(x1 - pad)), max(0, int(y1 - pad))
    x2, y2 = min(w, math.ceil(x2 + pad)), min(h, math.ceil(y2 + pad))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None, "the face box lies outside the frame"
    crop = frame[y1:y2, x1:x2]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * THUMB_HEIGHT / crop.shape[0])), THUMB_HEIGHT),
                      interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return (jpeg.tobytes(), "") if ok else (None, "the thumbnail could not be encoded")


def video_section(index: int, video: dict, record: dict, out_dir: Path) -> str:
    """One video with a face: its numbers (or reason), the chosen face, its plot file and the figure drawn
    here; whatever fails is noted instead (one bad video costs its pictures, not the report)."""
    e = html.escape
    clip = str(video.get("clip_id", ""))
    if _scored(video):
        what = (f'{video.get("verdict", "")}, offset {int(video["offset_frames"]):+d} frames, confidence '
                f'{_number(video.get("confidence")) or 0:.3f}, min dist {_number(video.get("min_dist")) or 0:.3f}')
    else:
        what = f'{video.get("verdict", "")}: {video.get("reason", "")}'
    parts = [f'<section class="video" id="v{index}"><h3>{e(clip)}</h3><p>{e(str(video.get("video", "")))}: '
             + f"{e(what)}</p>"]
    notes = []
    try:
        thumb, why = face_thumbnail(video, out_dir)
    except Exception as err:
        thumb, why = None, f"{type(err).__name__}: {err}"
    parts.append('<div class="figs">')
    if thumb:
        parts.append(img(thumb, f"chosen face of {clip}", "image/jpeg", "thumb"))
    if why:
        notes.append(f"no face thumbnail: {why}")
    plot = out_dir / str(video.get("plot") or "")
    data = plot.read_bytes() if video.get("plot") and plot.is_file() else b""
    has_plot = data.startswith(b"\x89PNG\r\n\x1a\n")
    if has_plot:
        parts.append(img(data, f"plot of {clip}"))
    elif video.get("plot"):
        notes.append(f"plot {video['plot']} is missing or not a PNG")
    try:
        figure = own_figure(video, record, with_curve=not has_plot)
    except Exception as err:
        figure = None
        notes.append(f"figure failed: {type(err).__name__}: {err}")
    parts.append((img(figure, f"curve and offsets over time of {clip}") if figure else "") + "</div>")
    parts += [f'<p class="note">{e(note)}</p>' for note in notes]
    return "".join(parts) + "</section>"
