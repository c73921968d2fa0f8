"""The demo corpus: LRS2's layout, real speech, and a mouth that opens with that speech, frame by frame."""
from __future__ import annotations

import shutil

import cv2
import ffmpeg
import numpy as np
import pytest

from unisync_model.corpora.lrs2 import list_clips
from unisync_model.demo import SAMPLES_PER_FRAME, make_demo_corpus
from unisync_model.media import audio_samples, video_frames

SPLITS = {"train": 1, "val": 1, "test": 1}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg and espeak-ng (apt-get install ffmpeg espeak-ng)")
    root = tmp_path_factory.mktemp("demo") / "demo"
    make_demo_corpus(root, speakers=3, clips_per_speaker=2, split_speakers=SPLITS, seed=1, size=128)
    return root


def mouth_interior(frame_rgb: np.ndarray) -> int:
    """Pixels of the dark red mouth interior (the suit and hair are not red)."""
    r, g, b = (frame_rgb[..., k].astype(int) for k in range(3))
    return int(((r > 35) & (r < 120) & (g < 50) & (b < 55) & (r > g + 25)).sum())


def test_layout_is_lrs2s(corpus):
    clips = list_clips(corpus)
    assert len(clips) == 6
    assert all((corpus / "mvlrs_v1" / "main" / f"{c}.mp4").is_file() for c in clips["clip_id"])
    assert clips.groupby("speaker")["split"].nunique().max() == 1  # each speaker in one split
    assert sorted(clips.groupby("split")["speaker"].nunique().items()) == sorted(SPLITS.items())
    assert not corpus.with_name("demo.tmp").exists()
    assert (corpus / "speakers.csv").read_text().count("demo_spk") == 3


def test_clips_are_25fps_video_with_16k_mono_speech_of_2_to_5_s(corpus):
    for path in sorted(corpus.rglob("*.mp4")):
        info = ffmpeg.probe(str(path))
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
        assert video["r_frame_rate"] == "25/1" and (video["width"], video["height"]) == (128, 128)
        assert audio["sample_rate"] == "16000" and audio["channels"] == 1
        assert 2.0 <= float(info["format"]["duration"]) <= 5.1


def test_mouth_opens_with_the_speech_frame_by_frame(corpus):
    for path in sorted(corpus.rglob("*.mp4")):
        opening = np.array([mouth_interior(f[..., ::-1]) for f in video_frames(path)], float)
        samples = audio_samples(path)
        frames = min(len(opening), len(samples) // SAMPLES_PER_FRAME)
        rms = np.sqrt((samples[:frames * SAMPLES_PER_FRAME].reshape(frames, -1) ** 2).mean(axis=1))
        loud = 20 * np.log10(rms + 1e-6)
        opening = opening[:frames]
        synced = np.corrcoef(opening, loud)[0, 1]
        shifted = np.corrcoef(opening[5:], loud[:-5])[0, 1]
        assert synced > 0.6, (path, synced)
        assert synced - shifted > 0.2, (path, synced, shifted)


def test_face_is_found_in_every_frame(corpus, yunet_weights):
    detector = None
    found = total = 0
    for path in sorted(corpus.rglob("*.mp4")):
        for frame in video_frames(path):
            if detector is None:
                detector = cv2.FaceDetectorYN.create(str(yunet_weights), "", frame.shape[1::-1], 0.6)
            found += detector.detect(frame)[1] is not None
            total += 1
    assert found / total >= 0.99


def test_split_sizes_must_add_up(tmp_path):
    with pytest.raises(ValueError, match="add up"):
        make_demo_corpus(tmp_path / "d", speakers=3, clips_per_speaker=1, split_speakers={"train": 1, "test": 1},
                         seed=0)
