"""tracks stage: the speaking face of every frame, from OpenCV's YuNet detector.

Each video is decoded once, in-process (io/frames.py), at 25 fps; faces are searched on every
`detect_every`-th frame (and after each cut) at the detector's width, linked into face tracks and the
speaking person's tracks kept (faces.py; track_stream.py follows the frames). Each kept track is a
segment: its gaps are interpolated and its box and keypoints smoothed within it. Frames outside every
segment get a box interpolated between the nearest segments (held at the ends) and segment -1: no
window is drawn there, but every stage keeps one row per frame, aligned with the audio.

Which tracks are the speaker's is `tracks.speaker`: "largest" (the default here) or "sync", where every
track long enough is measured by the training-free scorer's signals (mouth opening from dlib's
landmarks, computed during the same decode, against the speech-band envelope: mouth_sync.py) and in
each shot the face whose mouth follows the sound best is kept (faces.speaking_face_by_sync), so that an
interviewer's face is not taken for the speaker's. It needs the landmarks stage's dlib model, decodes
the audio (the default stream) and applies no speech gate; the record names the rule, each track's
confidence and the chosen tracks.

A track row (float32) holds TRACK_COLUMNS: the box corners in source pixels, the detector score,
YuNet's 5 keypoints (right eye, left eye, nose tip, right and left mouth corner), whether the face
was detected in that frame (1) or interpolated (0), and the frame's segment.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from unisync_model.extract.faces import YuNetDetector, speaker_rule, speaking_face_by_sync
from unisync_model.extract.mouth_sync import sync_confidence
from unisync_model.extract.stage import run_stage
from unisync_model.extract.track_stream import stream_tracks, track_clip
from unisync_model.io.frames import decoder_version
from unisync_model.io.media import MediaError, probe, speech_audio
from unisync_model.io.track_array import TRACK_COLUMNS
from unisync_model.settings import LandmarksSettings, TracksSettings, TrainingFreeSettings, to_dict

DEFAULT_RULE = "largest"  # the tracks stage's rule when tracks.speaker is null


def track_clip_by_sync(path: str | Path, detector: YuNetDetector, settings: TracksSettings,
                       landmarks_backend) -> tuple[np.ndarray, dict]:
    """One clip's tracks with the speaker chosen by sync (see above): (track array, record)."""
    from unisync_model.extract.landmarks import TrackedLandmarks

    info = probe(path)
    reader = TrackedLandmarks(landmarks_backend)
    streamed = stream_tracks(path, detector, settings, on_frame=reader, info=info)
    if len(streamed.candidates) <= 1:
        return streamed.track, {**streamed.record, "speaker": "sync"}
    samples = speech_audio(path, info=info).samples
    frames = len(streamed.track)
    confidences = [sync_confidence(reader.arrays([track], frames)["landmarks"], samples, track.frames[0],
                                   track.frames[-1] + 1, TrainingFreeSettings())
                   for track in streamed.candidates]
    chosen = speaking_face_by_sync(streamed.candidates, confidences, settings.min_face_ratio)
    ids = {id(track): k for k, track in enumerate(streamed.candidates)}
    result = streamed.keeping(chosen, settings.smooth_frames, speaker="sync",
                              track_confidences=[None if c is None else round(c, 4) for c in confidences],
                              chosen_tracks=[ids[id(track)] for track in chosen])
    return result.track, result.record


def extract_tracks(clips: pd.DataFrame, out: str | Path, settings: TracksSettings) -> tuple[int, int]:
    detector = YuNetDetector(settings)
    paths = dict(zip(clips["clip_id"], clips["path"]))
    if speaker_rule(settings, DEFAULT_RULE) == "sync":
        from unisync_model.extract.landmarks import make_backend
        backend = make_backend(LandmarksSettings())  # dlib: it reads the decoded luma, during the one decode

        def process(clip_id: str) -> tuple[np.ndarray, dict]:
            return track_clip_by_sync(paths[clip_id], detector, settings, backend)
    else:
        def process(clip_id: str) -> tuple[np.ndarray, dict]:
            return track_clip(paths[clip_id], detector, settings)
    return run_stage(paths, process, out, "tracks",
                     {"backend": "yunet", "opencv_version": cv2.__version__, "decoder": decoder_version(),
                      "settings": to_dict(settings),
                      "columns": TRACK_COLUMNS},
                     skip_on=(MediaError,))
