"""Known answers for two claims of the README: the audio window of a 5-frame video window (HuBERT:
the 10 frames from 2s; Mel: the 16 frames from ceil(3.2 s)) and how many windows a clip holds; and
clips go to shards by a CRC32 of their id, so adding clips never moves the others."""
from __future__ import annotations

import math
import zlib
from fractions import Fraction

import pytest

from unisync_model.corpora.manifest import build_manifest, shard_of
from unisync_model.io.av_timing import (
    HUBERT_RATE,
    HUBERT_WINDOW,
    MEL_RATE,
    MEL_WINDOW,
    audio_features,
    hubert_start,
    mel_start,
    window_count,
)

# ---------------------------------------------------------------- timing


def test_window_sizes_and_rates():
    assert (MEL_RATE, MEL_WINDOW, HUBERT_RATE, HUBERT_WINDOW) == (80, 16, 50, 10)
    for name, length, rate in (("mel", 16, 80), ("hubert", 10, 50)):
        start, window, feature_rate = audio_features(name)
        assert (window, feature_rate) == (length, rate)
        assert start(7) == (23 if name == "mel" else 14)


@pytest.mark.parametrize("frame,mel,hubert", [
    (0, 0, 0), (1, 4, 2), (2, 7, 4), (3, 10, 6), (4, 13, 8), (5, 16, 10),  # 3.2, 6.4, 9.6, 12.8: rounded up
    (7, 23, 14), (10, 32, 20), (24, 77, 48), (25, 80, 50), (26, 84, 52), (1001, 3204, 2002),
])
def test_first_audio_frame_of_a_window_known_values(frame, mel, hubert):
    assert mel_start(frame) == mel == math.ceil(Fraction(16, 5) * frame)
    assert hubert_start(frame) == hubert == 2 * frame


def brute_force_windows(video_frames: int, audio_frames: int, first, length: int) -> int:
    """Count window starts s whose 5 video frames and `length` audio frames both exist, one by one."""
    return sum(1 for s in range(video_frames) if s + 5 <= video_frames and first(s) + length <= audio_frames)


@pytest.mark.parametrize("video,audio,expected", [
    (5, 10, 1), (5, 9, 0), (4, 100, 0), (0, 0, 0), (100, 0, 0),  # one window exactly; one frame short
    (100, 11, 1), (100, 12, 2), (100, 20, 6), (7, 1000, 3), (20, 20, 6), (21, 50, 17),
])
def test_hubert_window_count_edge_cases(video, audio, expected):
    assert window_count(video, audio, "hubert") == expected
    assert brute_force_windows(video, audio, lambda s: 2 * s, 10) == expected


@pytest.mark.parametrize("video,audio,expected", [
    (5, 16, 1), (5, 15, 0), (100, 19, 1), (100, 20, 2), (100, 23, 3), (100, 26, 4), (10, 1000, 6),
])
def test_mel_window_count_edge_cases(video, audio, expected):
    assert window_count(video, audio, "mel") == expected
    assert brute_force_windows(video, audio, lambda s: math.ceil(Fraction(16, 5) * s), 16) == expected


def test_window_count_agrees_with_the_brute_force_everywhere_small():
    for video in range(0, 40):
        for audio in range(0, 140, 3):
            assert window_count(video, audio, "mel") == brute_force_windows(
                video, audio, lambda s: math.ceil(Fraction(16, 5) * s), 16), (video, audio)
            assert window_count(video, audio, "hubert") == brute_force_windows(
                video, audio, lambda s: 2 * s, 10), (video, audio)


# ---------------------------------------------------------------- CRC32 shards


def test_the_shard_is_the_documented_crc32_of_the_id():
    # "123456789" is CRC-32's standard check string: its CRC is 0xCBF43926 = 3421780262
    assert shard_of("123456789", 10) == "002" and shard_of("123456789", 7) == f"{3421780262 % 7:03d}" == "005"
    assert shard_of("123456789", 64) == f"{0xCBF43926 % 64:03d}" == "038"
    assert shard_of("123456789", 1) == "000"


def make_folder_corpus(root, names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # empty: probed as unreadable, which does not matter to its shard


def test_adding_clips_never_moves_the_others(tmp_path):
    first = [f"spk{k % 4}/clip{k:03d}.mp4" for k in range(10, 40)]
    make_folder_corpus(tmp_path, first)
    before = build_manifest("folder", tmp_path, shards=5, threads=2)
    # new clips sort before, between and after the old ones, and come with a new speaker
    make_folder_corpus(tmp_path, [f"spk{k % 4}/clip{k:03d}.mp4" for k in (*range(0, 10), *range(40, 60))]
                       + ["spk0/clip025b.mp4", "aaa/x.mp4", "zzz/y.mp4"])
    after = build_manifest("folder", tmp_path, shards=5, threads=2)
    assert len(before) == 30 and len(after) == 63
    old = dict(zip(before["clip_id"], before["shard"]))
    new = dict(zip(after["clip_id"], after["shard"]))
    assert {c: new[c] for c in old} == old
    assert len(set(old.values())) > 1  # the clips are spread over several shards
    assert all(shard == f"{zlib.crc32(c.encode()) % 5:03d}" for c, shard in new.items())
