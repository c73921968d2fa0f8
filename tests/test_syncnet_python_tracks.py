"""syncnet_python's face-track protocol (run_pipeline.py's rules, extract/pipeline_tracks.py) for videos
that are not 224 × 224 crops: its tracking rules on made-up detections, its shots on a real cut, and
`--protocol syncnet_python` scoring each track on its own."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from helpers import SMALL_REAL_CLIPS, TEST_CLIPS

from unisync_model.extract.faces import iou as iou_rows
from unisync_model.extract.pipeline_tracks import MIN_TRACK, pipeline_tracks, shots, track_shot


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(iou_rows(a, b[None])[0])


def box(x: float, y: float, side: float = 150.0) -> np.ndarray:
    return np.array([x, y, x + side, y + side], np.float64)


def test_iou_is_run_pipelines():
    assert iou(box(0, 0, 100), box(0, 0, 100)) == 1.0
    assert iou(box(0, 0, 100), box(50, 0, 100)) == pytest.approx(5000 / 15000)
    assert iou(box(0, 0, 100), box(200, 0, 100)) == 0.0


def test_a_face_followed_for_more_than_min_track_frames_is_one_interpolated_track():
    faces = [[box(10 + k * 0.5, 20)] if k % 3 else [] for k in range(160)]  # every third frame missed: 106 faces
    (track,) = track_shot(faces, first_frame=40)
    assert track.frames[0] == 41 and track.frames[-1] == 40 + 158 and len(track.frames) == 158
    np.testing.assert_allclose(track.boxes[:, 0], 10 + 0.5 * (track.frames - 40))  # the missed frames interpolated
    np.testing.assert_allclose(track.boxes[:, 2] - track.boxes[:, 0], 150.0)


@pytest.mark.parametrize("case, expected", [
    ("exactly min_track faces", 0),  # more than MIN_TRACK faces are needed
    ("one more face", 1),
    ("faces of 100 px", 0),  # the mean box must be larger than MIN_FACE_SIZE
    ("a gap of 26 frames", 0),  # more than NUM_FAILED_DET frames without a face end the track: two short ones
    ("a gap of 25 frames", 1),
])
def test_run_pipelines_thresholds(case, expected):
    n = {"exactly min_track faces": MIN_TRACK, "one more face": MIN_TRACK + 1}.get(case, 120)
    side = 100.0 if case == "faces of 100 px" else 150.0
    faces = [[box(0, 0, side)] for _ in range(n)]
    if case.startswith("a gap"):
        gap = int(case.split()[3])
        faces = [[box(0, 0)] for _ in range(60)] + [[] for _ in range(gap - 1)] + [[box(0, 0)] for _ in range(60)]
    assert len(track_shot(faces)) == expected


def test_two_faces_make_two_tracks_and_a_jump_starts_a_new_one():
    faces = [[box(0, 0), box(400, 0)] for _ in range(110)]
    tracks = track_shot(faces)
    assert sorted(round(t.boxes[0, 0]) for t in tracks) == [0, 400]
    moved = [[box(0, 0)] for _ in range(110)] + [[box(300, 0)] for _ in range(110)]  # IoU 0 at the jump
    assert [(t.frames[0], t.frames[-1]) for t in track_shot(moved)] == [(0, 109), (110, 219)]


def test_the_face_after_a_taken_one_waits_for_the_next_pass_as_in_run_pipeline():
    """run_pipeline.py removes faces from the list it iterates, so in a frame the face after the one a
    track takes is not looked at in that pass: two overlapping faces on every frame make two tracks (one
    track taking both, frame after frame, if every face were compared)."""
    a, b = box(0, 0), box(2, 0)  # b overlaps a (IoU > 0.5): the same person to the tracker
    faces = [[a, b] for _ in range(110)]
    tracks = track_shot(faces)
    assert len(tracks) == 2 and all(len(t.frames) == 110 for t in tracks)


def test_short_shots_give_no_track():
    faces = [[box(0, 0)] for _ in range(300)]
    assert [(t.frames[0], t.frames[-1]) for t in pipeline_tracks(faces, [(0, 99), (99, 300)])] == [(99, 299)]


def clip_there_and_back(src, out, size):
    """The clip played forwards then backwards (no cut at the turn: one shot of twice its length)."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-filter_complex",
                    f"[0:v]scale={size}:{size},setsar=1,split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1:a=0[v];"
                    "[0:a]asplit[x][y];[y]areverse[z];[x][z]concat=n=2:v=0:a=1[s]",
                    "-map", "[v]", "-map", "[s]", "-c:v", "libx264", "-crf", "18", "-c:a", "aac", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    one, two = (clip_there_and_back(TEST_CLIPS / f"{name}.mp4", folder / f"{k}.mp4", 448)
                for k, name in enumerate(SMALL_REAL_CLIPS))
    joined = folder / "two_shots.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(one), "-i", str(two), "-filter_complex",
                    "[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
                    "-c:v", "libx264", "-crf", "18", "-c:a", "aac", str(joined)], check=True)
    small = clip_there_and_back(TEST_CLIPS / f"{SMALL_REAL_CLIPS[0]}.mp4", folder / "small.mp4", 112)  # faces ~75 px
    return {"one": one, "two_shots": joined, "small": small}


@pytest.fixture(scope="module")
def scorer(tmp_path_factory, yunet_weights):
    from unisync_model.model.syncnet import SyncNetS
    from unisync_model.scoring.scorers import scorer_from_settings
    torch.manual_seed(0)
    weights = tmp_path_factory.mktemp("syncnet") / "random.model"
    torch.save(SyncNetS().state_dict(), weights)
    return scorer_from_settings("syncnet", weights, device=torch.device("cpu"), protocol="syncnet_python")


def test_pyscenedetect_cuts_where_the_two_clips_meet(videos):
    (first, _), (second, end) = shots(videos["two_shots"], 300)
    assert abs(second - 150) <= 1 and end == 300 and first == 0


def test_each_shots_track_is_scored_on_its_own(videos, scorer):
    from unisync_model.scoring.videos import score_video
    result = score_video(videos["two_shots"], scorer)
    assert result.ok, result.reason
    spans = [(s.first_frame, s.stop_frame) for s in result.segments]
    assert len(spans) == 2 and spans[0][1] <= 151 and spans[1][0] >= 149, spans
    assert all(s.windows > MIN_TRACK - 10 for s in result.segments)
    offsets = [s.offset for s in result.segments]
    assert result.row()["track_mean_offset"] == pytest.approx(np.mean(offsets))  # LatentSync's mean over tracks
    assert "run_pipeline.py" in scorer.description


def test_a_single_shot_is_one_track(videos, scorer):
    from unisync_model.scoring.videos import score_video
    result = score_video(videos["one"], scorer)
    assert result.ok, result.reason
    assert [(s.first_frame, s.stop_frame) for s in result.segments][0][1] - result.segments[0].first_frame > MIN_TRACK


def test_faces_under_100_px_get_the_reason(videos, scorer):
    from unisync_model.scoring.videos import score_video
    result = score_video(videos["small"], scorer)
    assert not result.ok
    assert "run_pipeline.py keeps them" in result.reason and "100 px" in result.reason


def test_a_copy_with_shifted_audio_embeds_its_own_audio(videos, scorer):
    """The shift study's copies keep the tracks' visual embeddings and embed their own samples' audio."""
    from unisync_model.scoring.scorers import ClipData
    from unisync_model.scoring.shift_study import shift_samples, shifted_clip
    clip = ClipData("one", str(videos["one"]))
    scorer.prepare(clip)
    moved = shifted_clip(clip, 5, scorer)
    (seg,), (moved_seg,) = scorer.embed(clip), scorer.embed(moved)
    np.testing.assert_array_equal(seg.visual, moved_seg.visual)
    piece = shift_samples(clip.samples, 5)[seg.start * 640:seg.stop * 640]
    np.testing.assert_allclose(moved_seg.audio, scorer.expert.embed_audio(piece, seg.windows).numpy(), rtol=1e-6)
    assert not np.allclose(seg.audio, moved_seg.audio)
