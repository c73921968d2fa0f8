"""The speaking face chosen by sync (issue 19; scoring/speaker_choice.py, docs/scorers.md): on real clips
of ../shared put side by side by ffmpeg with one clip's audio kept, the face whose clip the audio is
from is chosen, on the left and on the right; with a cut between two such pairs, each shot's speaker
is found; the "largest" rule still takes one face; every track is listed with its numbers and box.
The pure choice rule (faces.py) is checked on made-up tracks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import SHARED
from helpers.av_edits import concat_cut, ffmpeg, side_by_side

from unisync_model.extract.faces import FaceTrack, layers, speaker_rule, speaking_face, speaking_face_by_sync
from unisync_model.scoring.results import VideoScore
from unisync_model.scoring.scorers import scorer_from_settings
from unisync_model.scoring.videos import score_video
from unisync_model.settings import ScoreSettings, TracksSettings

CLIPS = SHARED / "data" / "clips" / "real"
# frontal faces that speak clearly (VoxCeleb2 crops, 224 × 224, and an HDTF crop)
PAIR = ("vox_pcavs_Audio_Source_00086", "vox_pcavs_Audio_Source_681100216")
SECOND_PAIR = ("hdtf_WDA_BobMenendez_000", "vox_pcavs_Pose_Source_00067")  # the right one speaks
SECONDS = 4.0
HEIGHT = 256  # each face's panel: 256 × 256, so the left panel is x < 256
needs_shared = pytest.mark.skipif(not all((CLIPS / f"{n}.mp4").is_file() for n in PAIR + SECOND_PAIR),
                                  reason=f"needs the real clips of {CLIPS} (../shared absent)")


# ---------------------------------------------------------------------------------- the rule itself

def track(first: int, last: int, side: float) -> FaceTrack:
    frames = list(range(first, last + 1))
    return FaceTrack(frames, [np.array([0, 0, side, side, *[0] * 10, 0.9], np.float32) for _ in frames])


def test_the_most_confident_face_of_each_shot_is_chosen():
    a, b = track(0, 99, 100), track(0, 99, 120)  # shot 1: two faces, b the larger
    c, d = track(100, 199, 100), track(100, 199, 90)  # shot 2
    small = track(0, 99, 30)  # an inset: never the speaker, however well it scores
    tracks = [a, b, c, d, small]
    assert speaking_face(tracks, 0.5) == [b, c]  # largest: b, then c (of a similar size, apart from b)
    chosen = speaking_face_by_sync(tracks, [0.4, 0.1, 0.05, 0.3, 0.9], 0.5)
    assert chosen == [a, d]
    # a track without a score comes after every scored one; among unscored ones the larger first
    assert speaking_face_by_sync(tracks, [None, 0.1, None, None, None], 0.5) == [b, c]
    assert len(layers(tracks)) == 3  # three faces at once at most: three track arrays
    with pytest.raises(ValueError, match="confidences"):
        speaking_face_by_sync(tracks, [0.1], 0.5)


def test_the_rule_defaults_per_caller_and_rejects_a_typo():
    assert speaker_rule(TracksSettings(), "largest") == "largest"
    assert speaker_rule(TracksSettings(), "sync") == "sync"
    assert speaker_rule(TracksSettings(speaker="largest"), "sync") == "largest"
    with pytest.raises(ValueError, match="tracks.speaker"):
        speaker_rule(TracksSettings(speaker="loudest"), "sync")


# ------------------------------------------------------------------------------ real clips, by ffmpeg

@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    if not all((CLIPS / f"{n}.mp4").is_file() for n in PAIR + SECOND_PAIR):
        pytest.skip(f"needs the real clips of {CLIPS} (../shared absent)")
    root = tmp_path_factory.mktemp("speakers")
    short = {}
    for name in PAIR + SECOND_PAIR:  # the first seconds, 256 px high: small and quick
        short[name] = root / f"{name}.mp4"
        ffmpeg("-i", CLIPS / f"{name}.mp4", "-t", f"{SECONDS}", "-vf", f"scale=-2:{HEIGHT},setsar=1,fps=25",
               "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", short[name])
    left, right = short[PAIR[0]], short[PAIR[1]]
    out = {"left speaks": side_by_side(left, right, root / "left_speaks.mp4", audio_from="left"),
           "right speaks": side_by_side(left, right, root / "right_speaks.mp4", audio_from="right"),
           "second shot": side_by_side(short[SECOND_PAIR[0]], short[SECOND_PAIR[1]], root / "second.mp4",
                                       audio_from="right")}
    out["cut"] = concat_cut(out["left speaks"], out["second shot"], root / "cut.mp4")
    return out


@pytest.fixture(scope="module")
def scorer():
    return scorer_from_settings("training-free")


def side(segment) -> str:
    """Which panel a segment's face is in, from its median box's centre."""
    assert segment.box is not None
    return "left" if (segment.box[0] + segment.box[2]) / 2 < HEIGHT else "right"


def describe(result: VideoScore) -> str:
    return "; ".join(f"track {s.track} {side(s)} {s.first_frame}–{s.stop_frame}: "
                     f"{'no score' if s.reason else f'{s.confidence:.3f} at {s.offset:+d}'}"
                     f"{' (chosen)' if s.chosen else ''}" for s in result.segments)


def score(path: Path, scorer, speaker: str | None = None) -> VideoScore:
    return score_video(path, scorer, ScoreSettings(tracks=TracksSettings(speaker=speaker)))


@needs_shared
@pytest.mark.parametrize("arrangement", ["left speaks", "right speaks"])
def test_the_speaking_face_is_chosen_on_either_side(videos, scorer, arrangement, capsys):
    result = score(videos[arrangement], scorer)
    with capsys.disabled():
        print(f"\n{arrangement}: {describe(result)}")
    assert len(result.segments) == 2, describe(result)  # both faces scored and listed
    assert {side(s) for s in result.segments} == {"left", "right"}
    assert all(s.reason is None for s in result.segments), describe(result)
    chosen = [s for s in result.segments if s.chosen]
    assert len(chosen) == 1 and side(chosen[0]) == arrangement.split()[0], describe(result)
    assert chosen[0].confidence > max(s.confidence for s in result.segments if not s.chosen)
    assert sorted(s.track for s in result.segments) == [0, 1]
    assert result.row()["windows"] == chosen[0].windows  # the video pools the speaker's windows only


@needs_shared
def test_the_largest_rule_keeps_one_face_and_lists_only_it(videos, scorer):
    result = score(videos["right speaks"], scorer, "largest")
    assert len(result.segments) == 1 and result.segments[0].chosen


@needs_shared
def test_each_shot_of_a_cut_gets_its_own_speaker(videos, scorer, capsys):
    result = score(videos["cut"], scorer)
    with capsys.disabled():
        print(f"\ncut: {describe(result)}")
    cut = round(SECONDS * 25)
    shots = {0: [s for s in result.segments if s.stop_frame <= cut + 2],
             1: [s for s in result.segments if s.first_frame >= cut - 2]}
    assert len(shots[0]) + len(shots[1]) == len(result.segments) == 4, describe(result)
    for shot, expected in ((0, "left"), (1, "right")):
        chosen = [s for s in shots[shot] if s.chosen]
        assert len(chosen) == 1 and side(chosen[0]) == expected, (shot, describe(result))


# ----------------------------------------------------------------------------- the tracks stage

def test_the_stages_curve_is_syncnet_lses_on_unit_windows():
    """Extraction may not import model/lse.py: its curve for unit (and zero) windows must be the same."""
    from unisync_model.extract.mouth_sync import shift_curve, unit_windows
    from unisync_model.model.lse import syncnet_lse

    rng = np.random.default_rng(0)
    visual = unit_windows(rng.normal(size=120), 15)
    audio = unit_windows(rng.normal(size=120), 15)
    audio[30:40] = 0.0  # silent windows are zero vectors
    np.testing.assert_allclose(shift_curve(visual, audio), syncnet_lse(visual, audio).mean_dists, atol=2e-5)


@needs_shared
@pytest.mark.parametrize("arrangement", ["left speaks", "right speaks"])
def test_the_tracks_stage_keeps_the_speaker_by_sync(videos, arrangement):
    from unisync_model.extract.faces import YuNetDetector
    from unisync_model.extract.landmarks import make_backend
    from unisync_model.extract.tracks import track_clip_by_sync
    from unisync_model.io.track_array import segments_of
    from unisync_model.settings import LandmarksSettings

    settings = TracksSettings(speaker="sync")
    track, record = track_clip_by_sync(videos[arrangement], YuNetDetector(settings), settings,
                                       make_backend(LandmarksSettings()))
    assert record["speaker"] == "sync" and len(record["track_confidences"]) == 2, record
    assert len(record["chosen_tracks"]) == 1 and len(segments_of(track)) == 1
    (start, stop), = segments_of(track)
    x = float(np.median((track[start:stop, 0] + track[start:stop, 2]) / 2))
    assert ("left" if x < HEIGHT else "right") == arrangement.split()[0], record
