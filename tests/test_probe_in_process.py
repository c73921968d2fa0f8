"""The in-process probe (io/container_facts.py, PyAV) tells what ffprobe tells: the same VideoInfo, field
by field, on the real clips and the bad inputs, and the same reason for each file it cannot use; ffprobe
runs only where PyAV cannot tell (a file that does not open)."""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from pathlib import Path

import pytest
from helpers import SHARED
from helpers.bad_inputs import ffmpeg, make_bad_corpus

from unisync_model.corpora.manifest import probe_clips
from unisync_model.io import container_facts, media
from unisync_model.io.media import MediaError, probe_uncached

SHARED_CLIPS = SHARED / "data" / "clips"


def outcome(path: Path, audio_path: Path | None, in_process: bool) -> dict | str:
    try:
        return dataclasses.asdict(probe_uncached(path, audio_path, in_process=in_process))
    except MediaError as err:
        return f"MediaError: {err}"


def differences(path: Path, audio_path: Path | None = None) -> dict:
    """{field: (ffprobe's, PyAV's)} where the two disagree; the container duration of MP4 files apart:
    libavformat 8 (PyAV's) ends the container where its streams end, after their edit lists, while the
    system's ffprobe (FFmpeg 5.1) takes the movie header's duration, which can count the AAC encoder's
    priming too (up to 64 ms longer on the shared clips). No status reads it; the streams' durations agree."""
    old, new = outcome(path, audio_path, False), outcome(path, audio_path, True)
    if isinstance(old, str) or isinstance(new, str):
        return {} if old == new else {"outcome": (old, new)}
    diff = {k: (old[k], new[k]) for k in old if old[k] != new[k]}
    if "duration" in diff and abs(old["duration"] - new["duration"]) <= 0.07:
        del diff["duration"]
    return diff


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory) -> tuple[Path, list[tuple[Path, Path | None]]]:
    """The bad-input corpus (tests/helpers/bad_inputs.py) and a few more containers and cases, as
    (video, separate audio or None) pairs."""
    root = tmp_path_factory.mktemp("probe") / "corpus"
    make_bad_corpus(root)
    more = root / "more"
    more.mkdir()
    clip = ("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=1", "-f", "lavfi", "-i", "sine=duration=1")
    ffmpeg(*clip, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus", more / "x.webm")
    ffmpeg(*clip, "-c:v", "mpeg2video", "-c:a", "mp2", more / "x.ts")  # starts at 1.4 s
    ffmpeg(*clip, "-c:v", "mjpeg", "-c:a", "pcm_s16le", more / "x.avi")
    ffmpeg(*clip, "-vf", "setsar=4/3", "-c:v", "libx264", "-c:a", "aac", more / "non-square.mp4")
    ffmpeg(*clip, "-c:v", "libx264", "-c:a", "aac", "-timecode", "00:00:00:00", more / "timecode track.mp4")
    ffmpeg(*clip, "-f", "lavfi", "-i", "anullsrc=duration=1", "-map", "0", "-map", "2", "-map", "1", "-c:v",
           "libx264", "-c:a", "aac", "-disposition:a:0", "0", "-disposition:a:1", "default", "-shortest",
           more / "second audio default.mp4")
    rotated = root / "rotated/clip.mp4"
    ffmpeg("-i", rotated, "-c", "copy", "-metadata:s:v:0", "ROTATE=270", more / "legacy rotate tag.mkv")
    ffmpeg("-i", rotated, "-c", "copy", "-metadata:s:v:0", "rotate=180", more / "upside down.mov")
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", more / "speech.wav")
    (more / "not a video.mp4").write_text("hello")
    (more / "head only.mp4").write_bytes((root / "weird/it's.mp4").read_bytes()[:3000])
    files = sorted(p for p in root.rglob("*") if p.is_file())
    video_only = root / "video_only/clip.mp4"
    separate = [(video_only, root / "audio_only/clip.mp4"), (video_only, more / "speech.wav"),
                (video_only, more / "missing.wav"), (video_only, more / "not a video.mp4"),
                (video_only, root / "empty/clip.mp4")]
    return root, [(p, None) for p in files] + separate


def test_pyav_tells_what_ffprobe_tells_on_odd_and_bad_files(odd_files):
    _, pairs = odd_files
    assert len(pairs) > 30
    found = {f"{p.name} {a.name if a else ''}": differences(p, a) for p, a in pairs}
    assert {name: diff for name, diff in found.items() if diff} == {}


def test_the_facts_that_matter_on_odd_files(odd_files):
    """Not only equal to ffprobe's: right (so that both cannot be wrong the same way)."""
    root, _ = odd_files
    more = root / "more"
    assert probe_uncached(more / "legacy rotate tag.mkv", in_process=True).rotation == 270
    upside_down = probe_uncached(more / "upside down.mov", in_process=True)
    assert upside_down.rotation == 180  # the tag replaces the display matrix on remuxing
    assert probe_uncached(more / "non-square.mp4", in_process=True).width == 85  # 64 × 4/3
    second = probe_uncached(more / "second audio default.mp4", in_process=True)
    assert (second.audio_streams, second.audio_default) == ((1, 2), 1)
    assert probe_uncached(root / "vfr/clip.mp4", in_process=True).fps == pytest.approx(20.34, abs=0.01)
    with pytest.raises(MediaError, match="^no video stream$"):
        probe_uncached(root / "cover_art/clip.mp4", in_process=True)
    with pytest.raises(MediaError, match="^audio file missing$"):
        probe_uncached(root / "video_only/clip.mp4", more / "missing.wav", in_process=True)


def test_ffprobe_runs_only_where_pyav_cannot_tell(odd_files, monkeypatch):
    root, pairs = odd_files
    cannot = {root / "truncated/clip.mp4", root / "more/not a video.mp4", root / "more/head only.mp4"}
    for path, _ in pairs:
        if path.stat().st_size:
            assert (container_facts.read(path) is None) == (path in cannot), path
    asked: list[Path] = []
    monkeypatch.setattr(media, "_ffprobe", lambda path: asked.append(Path(path)) or {})
    monkeypatch.setattr(media, "_probed", OrderedDict())  # a cache of its own: these facts are not real
    rows = probe_clips([str(p) for p, a in pairs], [str(a or p) for p, a in pairs], workers=1)
    assert len(rows) == len(pairs) and set(asked) == cannot


def real_clips() -> list[Path]:
    from helpers import SMALL_REAL_CLIPS, TEST_CLIPS

    committed = [TEST_CLIPS / f"{name}.mp4" for name in SMALL_REAL_CLIPS]
    shared = sorted(p for kind in ("real", "real_muxed", "generated") for p in (SHARED_CLIPS / kind).glob("*.m[op][4v]"))
    return committed + shared  # the shared clips where ../shared is there


@pytest.mark.parametrize("path", real_clips(), ids=lambda p: p.name)
def test_pyav_tells_what_ffprobe_tells_on_real_clips(path):
    assert path.is_file()
    assert differences(path, path) == {}


def test_workers_give_what_one_process_gives(odd_files, monkeypatch):
    """The manifest's pools (corpora/manifest.py): threads and spawned processes, rows in order."""
    from unisync_model.corpora import manifest

    _, pairs = odd_files
    paths, audio_paths = [str(p) for p, _ in pairs], [str(a or p) for p, a in pairs]
    serial = probe_clips(paths, audio_paths, workers=1)
    monkeypatch.setattr(manifest, "FILES_PER_WORKER", 1)  # so few files would be probed serially
    assert probe_clips(paths, audio_paths, workers=2, pool="threads") == serial
    assert probe_clips(paths, audio_paths, workers=2, pool="processes") == serial
    assert sum(row["status"] == "ok" for row in serial) >= 15
