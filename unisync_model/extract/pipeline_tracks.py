"""Face tracks as syncnet_python's run_pipeline.py makes them, for `--protocol syncnet_python` on videos
that are not already face crops: shots cut by PySceneDetect's ContentDetector (its defaults, as
run_pipeline calls it), faces found on every frame, and in each shot of at least MIN_TRACK frames the
tracks `track_shot` links: greedily, a face joining the track whose last face it overlaps by IoU > 0.5
no more than NUM_FAILED_DET frames earlier; a track kept when it has more than MIN_TRACK faces and its
interpolated box is on average more than MIN_FACE_SIZE pixels wide or high.

What differs from run_pipeline.py: the faces are YuNet's (our tracks stage's detector, at its
detection width) instead of S3FD's at a quarter of the frame, the frames come from our one decoder
(io/frames.py) instead of JPEGs of an MPEG-4 re-encode, and the shots are cut on the source video
(at its own rate, mapped to 25 fps frames by time) instead of that re-encode. docs/syncnet_and_lse.md
says when to use which protocol.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unisync_model.extract.faces import iou
from unisync_model.io.optional import require
from unisync_model.settings import FPS

IOU_THRESHOLD = 0.5  # run_pipeline.py's track_shot: iouThres
NUM_FAILED_DET = 25  # --num_failed_det: frames a track may go without a face
MIN_TRACK = 100  # --min_track: frames of a shot, and faces of a track (more than), to keep it
MIN_FACE_SIZE = 100  # --min_face_size: pixels, the mean box width or height (the larger)


@dataclass
class PipelineTrack:
    frames: np.ndarray  # every 25 fps frame from the track's first face to its last
    boxes: np.ndarray  # len(frames) × 4 (x1, y1, x2, y2), linearly interpolated between its faces


def track_shot(faces: list[list[np.ndarray]], first_frame: int = 0, min_track: int = MIN_TRACK,
               min_face_size: float = MIN_FACE_SIZE) -> list[PipelineTrack]:
    """run_pipeline.py's track_shot over one shot: `faces[k]` holds the boxes found on frame
    first_frame + k. Tracks are taken one at a time, each from the faces the earlier ones left."""
    left = [list(frame_faces) for frame_faces in faces]
    tracks: list[PipelineTrack] = []
    while True:
        track: list[tuple[int, np.ndarray]] = []
        for k, frame_faces in enumerate(left):
            i = 0
            while i < len(frame_faces):
                face = frame_faces[i]
                if not track:
                    track.append((k, face))
                    del frame_faces[i]
                elif k - track[-1][0] <= NUM_FAILED_DET:
                    if iou(face, track[-1][1][None])[0] > IOU_THRESHOLD:  # run_pipeline's IoU
                        track.append((k, face))
                        del frame_faces[i]
                else:
                    break
                # run_pipeline.py removes a face from the list it is iterating over, so the face after
                # a taken one is not looked at in that pass; stepping on regardless does the same
                i += 1
        if not track:
            return tracks
        if len(track) > min_track:
            seen = np.array([k for k, _ in track], np.float64)
            boxes = np.array([face[:4] for _, face in track], np.float64)
            frames = np.arange(track[0][0], track[-1][0] + 1)
            boxes = np.stack([np.interp(frames, seen, boxes[:, c]) for c in range(4)], axis=1)
            if max(np.mean(boxes[:, 2] - boxes[:, 0]), np.mean(boxes[:, 3] - boxes[:, 1])) > min_face_size:
                tracks.append(PipelineTrack(frames + first_frame, boxes))


def shots(path: str | Path, n_frames: int) -> list[tuple[int, int]]:
    """[start, stop) 25 fps frame ranges of the video's shots by PySceneDetect's ContentDetector with its
    defaults (run_pipeline.py's scene_detect); the whole video when it finds none."""
    scenedetect = require("scenedetect")
    video = scenedetect.open_video(str(path))
    manager = scenedetect.SceneManager()
    manager.add_detector(scenedetect.ContentDetector())
    manager.detect_scenes(video)
    cuts = sorted({min(n_frames, max(0, round(_seconds(start) * FPS))) for start, _ in manager.get_scene_list()}
                  - {0, n_frames})
    edges = [0, *cuts, n_frames]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def _seconds(timecode) -> float:
    """A FrameTimecode's seconds (a property from PySceneDetect 0.7, a method before)."""
    seconds = getattr(timecode, "seconds", None)
    return float(seconds if seconds is not None and not callable(seconds) else timecode.get_seconds())


def pipeline_tracks(faces: list[np.ndarray], cuts: list[tuple[int, int]], min_track: int = MIN_TRACK,
                    min_face_size: float = MIN_FACE_SIZE) -> list[PipelineTrack]:
    """Every shot's tracks, shot by shot: `faces[t]` is frame t's N × ≥4 boxes (x1, y1, x2, y2 first);
    a shot shorter than min_track frames gives none."""
    out: list[PipelineTrack] = []
    for start, stop in cuts:
        if stop - start >= min_track:
            out += track_shot([list(f) for f in faces[start:stop]], start, min_track, min_face_size)
    return out
