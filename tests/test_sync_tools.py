"""Issue 19 on real clips made by ffmpeg (tests/helpers/av_edits.py): an offset of 2 s found with a 3 s
search and called "beyond the searched range" with the default one, a drift found with its sign and rate
and then fixed, and music before the speech neither voting nor diluting (the music-only clip's "no
speech" is in test_speech_gate.py, the speaking face in test_speaker_choice.py)."""
from __future__ import annotations

import pytest
from helpers import SHARED
from helpers.av_edits import delay_audio, music_before, speed_audio

from unisync_model.scoring.fix import fix_video
from unisync_model.scoring.results import BEYOND, score_clip
from unisync_model.scoring.scorers import scorer_from_settings
from unisync_model.scoring.videos import VideoLoader, score_video
from unisync_model.settings import ScoreSettings, SpeechSettings

REAL = SHARED / "data" / "clips" / "real"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"needs the real clips in {REAL} (../shared absent)")
DEFAULT, THREE_SECONDS = ScoreSettings(), ScoreSettings(max_offset=75)


@pytest.fixture(scope="module")
def scorer():
    return scorer_from_settings("training-free", None, DEFAULT)


def parsed_max_offset(text: str) -> int:
    from unisync_model.cli.scoring import max_offset_frames
    return max_offset_frames(text)


def test_max_offset_reads_frames_and_seconds():
    assert parsed_max_offset("15") == 15 and parsed_max_offset("3s") == 75 and parsed_max_offset("0.6s") == 15
    with pytest.raises(ValueError, match=r"give frames \(15\) or seconds"):
        parsed_max_offset("three")


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["lrs3_C8zY0oAdQrs_00018_crop224", "cantonese_icable_10075_0"])
def test_a_two_second_delay_is_found_with_a_3s_range_and_beyond_the_default_one(clip, scorer, tmp_path):
    """Audio delayed by 2 s (50 frames): with --max-offset 3s the offset is the clip's own − 50 (±1);
    with the default ±15 it is "beyond the searched range", not a number inside it."""
    loader = VideoLoader(scorer, DEFAULT)
    own = score_clip(loader(REAL / f"{clip}.mp4", clip), scorer, None, THREE_SECONDS)
    assert own.ok and abs(own.offset) <= 2, own.line()
    late = loader(delay_audio(REAL / f"{clip}.mp4", tmp_path / "late.mp4", 2.0), clip)
    far = score_clip(late, scorer, None, THREE_SECONDS)
    assert far.ok and far.searched_range == 75 and abs(far.offset - (own.offset - 50)) <= 1, far.line()
    near = score_clip(late, scorer, None, DEFAULT)
    assert not near.ok and near.verdict == BEYOND and near.searched_range == 15, near.line()
    assert near.row()["searched_range_frames"] == 15 and near.row()["offset_frames"] is None


@pytest.mark.slow
def test_audio_running_fast_is_a_drift_and_fix_drift_flattens_it(scorer, tmp_path):
    """The 60 s clip with its audio 0.3 % fast: its offset grows by 60000·(1 − 1/1.003) = 179.5 ms a
    minute. The drift is flagged with that sign and a rate within 25 %; the clip as published is not
    flagged; after `fix --drift` the offsets over time are flat within ±1 frame."""
    source = REAL / "edtalk_pose_source2_TedLieu.mp4"
    truth = 60000 * (1 - 1 / 1.003)
    original = score_video(source, scorer, DEFAULT)
    assert original.drift is not None and not original.drift.drift, original.drift
    fast = score_video(speed_audio(source, tmp_path / "fast.mp4", 1.003), scorer, DEFAULT)
    assert fast.drift.drift and abs(fast.drift.rate_ms_per_min - truth) <= 0.25 * truth, fast.drift
    assert fast.row()["drift"] is True and fast.row()["drift_ms_per_min"] > 0

    record = fix_video(tmp_path / "fast.mp4", tmp_path / "fixed.mp4", scorer=scorer, settings=DEFAULT,
                       measured_drift=True)
    assert record["drift_from"] == "measured"
    fixed = score_video(tmp_path / "fixed.mp4", scorer, DEFAULT)
    assert not fixed.drift.drift and abs(fixed.drift.change_frames) <= 1, fixed.drift
    windows = [w.fine_offset for s in fixed.segments for w in s.over_time if w.fine_offset is not None]
    line = [fixed.drift.offset_at(w.centre_s) for s in fixed.segments for w in s.over_time
            if w.fine_offset is not None]
    assert max(line) - min(line) <= 1 and len(windows) >= 20


@pytest.mark.slow
def test_music_before_the_speech_does_not_move_the_offset(scorer, tmp_path):
    """5 s of a song (the music-only clip's sound) over the speaker's still first frame, then the speech:
    the same offset as the speech alone. The gate keeps most of the song out of the confidence (the song
    has vocals, which silero-vad hears as speech on about 40 % of its frames: those still vote)."""
    speech = REAL / "vox_pcavs_Audio_Source_00086.mp4"
    alone = score_video(speech, scorer, DEFAULT)
    music = music_before(speech, REAL / "liveportrait_d6_music.mp4", tmp_path / "music.mp4", 5.0)
    clip = VideoLoader(scorer, DEFAULT)(music, "music")
    gated = score_clip(clip, scorer, None, DEFAULT)
    ungated = score_clip(clip, scorer, None, ScoreSettings(speech=SpeechSettings(gate=False)))
    assert alone.ok and gated.ok and gated.offset == alone.offset, (alone.line(), gated.line())
    assert gated.confidence > ungated.confidence + 0.05, (gated.confidence, ungated.confidence)
    assert gated.speech_share < 0.8 * alone.speech_share  # the song is there, and most of it is not speech
