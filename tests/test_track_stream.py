"""One decode for tracks and landmarks (extract/track_stream.py, io/frames.py): the streamed landmarks are
the landmarks stage's numbers; a frame waits a bounded number of frames for its final boxes; faces
searched every n-th frame give the same segments on a steady face; and `unisync score --jobs 2` gives
what `--jobs 1` gives, in the same order."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pandas as pd
import pytest
from helpers import venv_env

from unisync_model.extract.faces import YuNetDetector, smoothing_offsets
from unisync_model.extract.landmarks import TrackedLandmarks, landmarks_clip, make_backend
from unisync_model.extract.track_stream import TrackStream, stream_tracks
from unisync_model.io.frames import decoded_frames
from unisync_model.io.media import probe, video_frames
from unisync_model.io.track_array import SEGMENT, segments_of
from unisync_model.scoring.scorers.training_free import TrainingFreeScorer
from unisync_model.scoring.videos import score_videos
from unisync_model.settings import LandmarksSettings, TracksSettings

pytestmark = pytest.mark.usefixtures("yunet_weights")


@pytest.fixture(scope="module")
def dlib_backend():
    return make_backend(LandmarksSettings())


@pytest.mark.parametrize("every", [1, 3])
def test_streamed_landmarks_are_the_landmarks_stage_numbers(small_real_clips, dlib_backend, every):
    settings = TracksSettings(detect_every=every)
    for path in small_real_clips.values():
        reader = TrackedLandmarks(dlib_backend)
        result = stream_tracks(path, YuNetDetector(settings), settings, on_frame=reader)
        streamed = reader.arrays(result.kept, len(result.track))["landmarks"]
        stage, _ = landmarks_clip(path, result.track, dlib_backend)  # decodes again, reads the track's boxes
        inside = result.track[:, SEGMENT] >= 0
        assert inside.sum() > 50
        np.testing.assert_array_equal(streamed[inside], stage[inside])
        assert np.isnan(streamed[~inside]).all()


def test_a_frame_waits_a_bounded_number_of_frames_for_its_boxes(small_real_clips):
    settings = TracksSettings(detect_every=4)
    path = small_real_clips["vox_pcavs_Audio_Source_00086"]
    info = probe(path)
    seen, waited = [], []
    stream = TrackStream(YuNetDetector(settings), settings, info,
                         on_frame=lambda t, frame, boxes: seen.append((t, len(boxes))))
    for frame in decoded_frames(path, info):
        stream.push(frame)
        waited.append(len(stream.pending))
    result = stream.finish()
    bound = settings.max_gap_frames + settings.detect_every + smoothing_offsets(settings.smooth_frames)[-1] + 1
    assert max(waited) <= bound, (max(waited), bound)
    assert [t for t, _ in seen] == list(range(len(result.track)))  # every frame once, in order
    assert all(n >= 1 for t, n in seen if result.track[t, SEGMENT] >= 0)  # a box wherever the face is kept


def test_faces_searched_every_nth_frame_give_the_same_segments_on_a_steady_face(small_real_clips):
    for path in small_real_clips.values():
        every = stream_tracks(path, YuNetDetector(TracksSettings()), TracksSettings(detect_every=1))
        fifth = stream_tracks(path, YuNetDetector(TracksSettings()), TracksSettings(detect_every=5))
        frames = len(every.track)
        assert every.record["searched_frames"] == frames
        # every 5th frame from 0, the frames after cuts, and the last frame
        expected = len(range(0, frames, 5)) + fifth.record["shot_changes"] + ((frames - 1) % 5 != 0)
        assert fifth.record["searched_frames"] <= expected
        assert segments_of(fifth.track) == segments_of(every.track)
        boxes = np.abs(fifth.track[:, :4] - every.track[:, :4]).max()
        side = np.median(every.track[:, 2] - every.track[:, 0])
        assert boxes < 0.15 * side, (boxes, side)  # interpolated boxes stay on the face


def test_decoded_frames_are_media_video_frames(small_real_clips):
    """The same frames as ffmpeg's fps filter gives (count, order): frame-to-frame brightness changes agree."""
    import cv2
    path = small_real_clips["vox_pcavs_Audio_Source_681100216"]
    info = probe(path)
    ours = [f.luma().mean() for f in decoded_frames(path, info)]
    theirs = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).mean() for f in video_frames(path, info=info)]
    assert len(ours) == len(theirs) == 75
    assert np.corrcoef(np.diff(ours), np.diff(theirs))[0, 1] > 0.98


def test_score_jobs_2_gives_what_jobs_1_gives_in_order(small_real_clips, tmp_path):
    videos = [str(p) for p in small_real_clips.values()]
    (tmp_path / "empty.mp4").touch()
    inputs = [videos[0], str(tmp_path / "empty.mp4"), videos[1], videos[0]]
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        run = subprocess.run(["unisync", "score", *inputs, "--out-dir", str(out), "--jobs", str(jobs), "--plots"],
                             env=venv_env(), capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        outputs[jobs] = (run.stdout.replace(str(out), "OUT"), pd.read_csv(out / "videos.csv"),
                         pd.read_csv(out / "segments.csv"), sorted(p.name for p in (out / "plots").iterdir()))
    assert outputs[1][0] == outputs[2][0]  # the same lines, in the same order
    pd.testing.assert_frame_equal(outputs[1][1], outputs[2][1])
    pd.testing.assert_frame_equal(outputs[1][2], outputs[2][2])
    assert outputs[1][3] == outputs[2][3] and len(outputs[1][3]) == 3
    assert outputs[1][1]["status"].tolist() == ["ok", "no score", "ok", "ok"]



class DyingScorer(TrainingFreeScorer):
    """A worker process that dies (as a crash in native code would) on one clip."""

    def prepare(self, clip) -> None:
        if "681100216" in clip.clip_id:
            os._exit(9)
        super().prepare(clip)


def test_a_worker_that_dies_costs_its_video_a_reason_not_the_run(small_real_clips, tmp_path):
    videos = [small_real_clips[name] for name in sorted(small_real_clips)]
    results = score_videos([*videos, tmp_path / "missing.mp4"], DyingScorer(), jobs=2)
    assert [r.clip_id for r in results] == [p.stem for p in videos] + ["missing"]
    dead = next(r for r in results if "681100216" in r.clip_id)
    assert not dead.ok and dead.reason.startswith("error: BrokenProcessPool")
    assert all(r.ok or r.reason for r in results)  # every other video scored, or its reason (a race with the crash)


def test_the_default_job_count_is_the_cores_and_one_when_the_model_is_on_a_gpu(monkeypatch):
    """`unisync score` without --jobs: a video per core; one when the scorer's model runs on cuda, where
    every worker would hold its own CUDA context and copy of the model."""
    from types import SimpleNamespace

    from unisync_model.scoring.scorers.training_free import TrainingFreeScorer
    from unisync_model.scoring.videos import default_jobs
    monkeypatch.setattr("unisync_model.io.device.available_cores", lambda: 7)
    assert default_jobs(TrainingFreeScorer()) == 7  # no model
    assert default_jobs(SimpleNamespace(device="cpu")) == 7  # unisync on the CPU
    assert default_jobs(SimpleNamespace(device="cuda:0")) == 1  # unisync on a GPU
    assert default_jobs(SimpleNamespace(expert=SimpleNamespace(device="cuda"))) == 1  # syncnet on a GPU
