"""The demo corpus generator: LRS2's layout, splits by speaker, 25 fps H.264 + 16 kHz mono AAC clips of
2-5 s, a mouth that opens with the speech frame by frame, and an atomic, deterministic build."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from unisync_model.corpora.demo import corpus as demo_corpus
from unisync_model.corpora.demo import make_demo_corpus, read_speakers
from unisync_model.io.av_timing import SAMPLES_PER_FRAME

SPLITS = {"train": 1, "val": 1, "test": 1}
SIZE = 128
CLIPS = 2

needs_programs = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None,
                                    reason="needs ffmpeg and espeak-ng (apt-get install ffmpeg espeak-ng)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg and espeak-ng (apt-get install ffmpeg espeak-ng)")
    root = tmp_path_factory.mktemp("demo") / "corpus"
    make_demo_corpus(root, speakers=3, clips_per_speaker=CLIPS, split_speakers=SPLITS, seed=1, size=SIZE)
    return root


def clips_on_disk(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root / "mvlrs_v1" / "main").with_suffix(""))
                  for p in (root / "mvlrs_v1" / "main").rglob("*.mp4"))


def decode(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames N x size x size x 3 RGB uint8, audio float 16 kHz mono) as ffmpeg decodes the file."""
    video = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "rawvideo",
                            "-pix_fmt", "rgb24", "pipe:"], capture_output=True, check=True).stdout
    audio = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-vn", "-f", "s16le",
                            "-ac", "1", "-ar", "16000", "pipe:"], capture_output=True, check=True).stdout
    frames = np.frombuffer(video, np.uint8).reshape(-1, size, size, 3)
    return frames, np.frombuffer(audio, np.int16).astype(np.float64) / 32768.0


def correlation(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """Pearson correlation of a[i] with b[i - lag] (lag > 0: b is taken from earlier)."""
    if lag > 0:
        a, b = a[lag:], b[:-lag]
    elif lag < 0:
        a, b = a[:lag], b[-lag:]
    return float(np.corrcoef(a, b)[0, 1])


def test_layout_is_lrs2s_with_splits_by_speaker(corpus):
    main = corpus / "mvlrs_v1" / "main"
    on_disk = clips_on_disk(corpus)
    assert on_disk == [f"demo_spk{k:02d}/{c:05d}" for k in range(3) for c in range(1, CLIPS + 1)]
    assert all((main / f"{name}.txt").read_text().startswith("Text:  ") for name in on_disk)
    listed = {split: (corpus / f"{split}.txt").read_text().splitlines() for split in ("train", "val", "test")}
    everything = [name for names in listed.values() for name in names]
    assert sorted(everything) == on_disk  # every clip listed, exactly once, and nothing else
    speakers_per_split = {split: {name.split("/")[0] for name in names} for split, names in listed.items()}
    assert {split: len(s) for split, s in speakers_per_split.items()} == SPLITS
    all_speakers = [s for group in speakers_per_split.values() for s in group]
    assert len(all_speakers) == len(set(all_speakers)) == 3  # each speaker in exactly one split
    rows = read_speakers(corpus)
    assert [r["video_id"] for r in rows] == sorted(all_speakers)
    assert {r["video_id"]: r["split"] for r in rows} == {s: split for split, group in speakers_per_split.items()
                                                          for s in group}
    assert len({r["voice"] for r in rows}) == 3  # a different voice per speaker
    assert len({r["face"] for r in rows}) == 3  # and a different face
    assert not corpus.with_name(corpus.name + ".tmp").exists()


def test_clips_are_25fps_h264_with_16k_mono_aac_of_2_to_5_s(corpus):
    for path in sorted(corpus.rglob("*.mp4")):
        info = ffmpeg.probe(str(path))
        video = [s for s in info["streams"] if s["codec_type"] == "video"]
        audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
        assert len(video) == 1 and len(audio) == 1, path
        video, audio = video[0], audio[0]
        assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
        assert video["r_frame_rate"] == "25/1" and video["avg_frame_rate"] == "25/1"
        assert (video["width"], video["height"]) == (SIZE, SIZE)
        assert audio["codec_name"] == "aac" and audio["sample_rate"] == "16000" and audio["channels"] == 1
        assert 2.0 <= float(info["format"]["duration"]) <= 5.0, (path, info["format"]["duration"])
        assert 2.0 <= int(video["nb_frames"]) / 25 <= 5.0


def test_mouth_opens_with_the_speech_frame_by_frame(corpus):
    mouths = {row["video_id"]: row for row in read_speakers(corpus)}
    for path in sorted(corpus.rglob("*.mp4")):
        frames, audio = decode(path, SIZE)
        n = min(len(frames), len(audio) // SAMPLES_PER_FRAME)
        assert n >= 50 and abs(len(frames) - len(audio) / SAMPLES_PER_FRAME) <= 2  # audio and video end together
        rms = np.sqrt((audio[: n * SAMPLES_PER_FRAME].reshape(n, SAMPLES_PER_FRAME) ** 2).mean(axis=1))
        level = 20 * np.log10(rms + 1e-9)
        level = np.maximum(level, level.max() - 40.0)  # dB with a floor: silence is all alike
        # the mouth region, from the mouth's position at rest that speakers.csv records
        row = mouths[path.parent.name]
        x, y, width = float(row["mouth_x"]), float(row["mouth_y"]), float(row["mouth_width"])
        assert 0.3 * SIZE < x < 0.7 * SIZE and 0.5 * SIZE < y < 0.9 * SIZE and 0.15 * SIZE < width < 0.4 * SIZE
        region = frames[:n, int(y - 0.3 * width): int(y + 0.6 * width), int(x - 0.6 * width): int(x + 0.6 * width)]
        luma = region.astype(np.float64) @ [0.299, 0.587, 0.114]
        darkness = np.clip(100.0 - luma, 0.0, None).mean(axis=(1, 2))  # darkness: the open mouth's interior
        synced = correlation(darkness, level, 0)
        early, late = correlation(darkness, level, 5), correlation(darkness, level, -5)
        assert synced > 0.7, (path, synced)  # measured: 0.92-0.99
        assert synced - max(early, late) > 0.2, (path, synced, early, late)  # frame-accurate, not just similar
        assert synced >= max(correlation(darkness, level, lag) for lag in (-2, -1, 1, 2)), path  # no lag


def test_split_sizes_must_add_up(tmp_path):
    root = tmp_path / "d"
    with pytest.raises(ValueError, match="add up to 2 speakers, not to the 3"):
        make_demo_corpus(root, speakers=3, clips_per_speaker=1, split_speakers={"train": 1, "test": 1}, seed=0)
    with pytest.raises(ValueError, match="unknown splits"):
        make_demo_corpus(root, speakers=2, clips_per_speaker=1, split_speakers={"train": 1, "dev": 1}, seed=0)
    assert not root.exists() and not root.with_name("d.tmp").exists()


def test_missing_programs_are_named(tmp_path, monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "espeak-ng" else real_which(name))
    with pytest.raises(RuntimeError, match=r"espeak-ng.*apt-get install espeak-ng"):
        make_demo_corpus(tmp_path / "d", speakers=1, clips_per_speaker=1, split_speakers={"test": 1}, seed=0)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "ffmpeg" else real_which(name))
    with pytest.raises(RuntimeError, match=r"ffmpeg.*apt-get install ffmpeg"):
        make_demo_corpus(tmp_path / "d", speakers=1, clips_per_speaker=1, split_speakers={"test": 1}, seed=0)


@needs_programs
def test_build_is_atomic(tmp_path, monkeypatch):
    root = tmp_path / "demo"
    stale = tmp_path / "demo.tmp"
    (stale / "mvlrs_v1").mkdir(parents=True)  # left behind by an interrupted run
    (root / "old").mkdir(parents=True)  # a previous corpus
    # a run that fails at the very end leaves the previous corpus alone and no half-made one
    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_corpus, "write_speakers_csv", fail)
    with pytest.raises(KeyboardInterrupt):
        make_demo_corpus(root, speakers=1, clips_per_speaker=1, split_speakers={"train": 1}, seed=0, size=64)
    assert (root / "old").is_dir() and not stale.exists()
    monkeypatch.undo()
    # a run that succeeds replaces the previous corpus and leaves no .tmp
    (stale / "mvlrs_v1").mkdir(parents=True)
    make_demo_corpus(root, speakers=1, clips_per_speaker=1, split_speakers={"train": 1}, seed=0, size=64)
    assert not (root / "old").exists() and not stale.exists()
    assert clips_on_disk(root) == ["demo_spk00/00001"]
    assert (root / "train.txt").read_text() == "demo_spk00/00001\n"
    assert (root / "val.txt").read_text() == "" and (root / "test.txt").read_text() == ""


@needs_programs
def test_same_seed_same_corpus(tmp_path):
    def build(name: str, seed: int) -> tuple[str, str, np.ndarray]:
        root = tmp_path / name
        make_demo_corpus(root, speakers=2, clips_per_speaker=1, split_speakers={"train": 1, "test": 1}, seed=seed,
                         size=64)
        transcript = (root / "mvlrs_v1" / "main" / "demo_spk01" / "00001.txt").read_text()
        _, audio = decode(root / "mvlrs_v1" / "main" / "demo_spk01" / "00001.mp4", 64)
        return (root / "speakers.csv").read_text(), transcript, audio

    first, again, other = build("a", 7), build("b", 7), build("c", 8)
    assert first[:2] == again[:2] and len(first[2]) == len(again[2])
    assert np.abs(first[2] - again[2]).max() < 1e-3
    assert first[0] != other[0] and first[1] != other[1]


@needs_programs
def test_single_clip_helper(tmp_path):
    path = tmp_path / "one" / "clip.mp4"
    text = demo_corpus.make_demo_clip(path, seed=3, size=64)
    assert len(text.split()) >= 5
    info = ffmpeg.probe(str(path))
    assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
    assert 2.0 <= float(info["format"]["duration"]) <= 5.0
