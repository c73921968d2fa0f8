"""Face tracks built while a video's frames stream past, from one decode (io/frames.py).

Faces are searched on every `detect_every`-th frame, on the frame after each shot change and on the
last frame, and followed in between by the track's interpolation (faces.smoothed_boxes). A frame's
boxes are final once every open track through it has a detection at least the smoothing half-window
later, or has ended: at most max_gap_frames + detect_every + that half-window frames later. Only then
does `on_frame` see the frame, with the final box of every track through it, so that what reads the
face (the training-free scorer's landmarks) works on the same decode, holding a few frames at a time.
At the end the speaking face is chosen by the "largest" rule and the track array written as
faces.track_array writes it (with detect_every = 1 the tracks are those of searching every frame);
every track long enough is returned too (`candidates`), for a caller that chooses by sync.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unisync_model.extract.faces import (
    MIN_SEGMENT_FRAMES,
    FaceTrack,
    Linker,
    YuNetDetector,
    colour_histogram,
    detect_size,
    shot_distance,
    smoothed_boxes,
    smoothing_offsets,
    speaking_face,
    track_array,
    usable_tracks,
)
from unisync_model.extract.stage import SkipClip
from unisync_model.io.frames import DecodedFrame, decoded_frames
from unisync_model.io.media import VideoInfo, probe
from unisync_model.io.track_array import TRACK_COLUMNS, segments_of
from unisync_model.settings import TracksSettings

# on_frame(t, frame, [(track, box)]): box = the track's final row at t (15 float32: box, keypoints, score)
FrameCallback = Callable[[int, DecodedFrame, list[tuple[FaceTrack, np.ndarray]]], None]
HISTOGRAM_SIDE = 64  # colour_histogram reads a 64 × 64 image
DETECTED = TRACK_COLUMNS.index("detected")


@dataclass
class StreamedTracks:
    track: np.ndarray  # the tracks stage's array (TRACK_COLUMNS)
    record: dict  # what the tracks stage records of the clip
    kept: list[FaceTrack]  # the speaking face's tracks by the "largest" rule: segment s of `track` is kept[s]
    candidates: list[FaceTrack]  # every track long enough (faces.usable_tracks): its index is the track id
    cuts: list[int]  # the frames that start a new shot

    def keeping(self, kept: list[FaceTrack], smooth_frames: int, **record) -> StreamedTracks:
        """The same tracks with `kept` as the speaker's (another rule's choice): their track array, and the
        record's segments with `record`'s entries added."""
        track = track_array(len(self.track), kept, smooth_frames)
        segments = segments_of(track)
        return StreamedTracks(track, {**self.record, "segments": segments,
                                      "frames_in_segments": sum(b - a for a, b in segments),
                                      "detected_frames": int(track[:, DETECTED].sum()), **record},
                              kept, self.candidates, self.cuts)


class TrackStream:
    """Feed it the frames in order (`push`), then `finish()`."""

    def __init__(self, detector: YuNetDetector, settings: TracksSettings, info: VideoInfo,
                 on_frame: FrameCallback | None = None):
        self.detector, self.settings, self.on_frame = detector, settings, on_frame
        self.detect_every = max(1, int(settings.detect_every))
        self.size = detect_size(info.width, info.height, settings.detect_width)
        self.to_source = np.ones(15, np.float32)  # detections are in detector pixels: scale to the source's
        self.to_source[0:14:2], self.to_source[1:14:2] = info.width / self.size[0], info.height / self.size[1]
        self.reach = smoothing_offsets(settings.smooth_frames)[-1]
        self.linker = Linker(settings.max_gap_frames)
        self.active: list[FaceTrack] = []  # tracks that may pass through a frame not yet final
        self.pending: deque[tuple[int, DecodedFrame]] = deque()
        self.frames = self.searched = self.most_faces = 0
        self.cuts: list[int] = []
        self.last: tuple[int, DecodedFrame, bool] | None = None  # (t, frame, searched)
        self._histogram: np.ndarray | None = None

    def push(self, frame: DecodedFrame) -> None:
        t = self.frames
        histogram = colour_histogram(frame.thumbnail_bgr(HISTOGRAM_SIDE))
        cut = self._histogram is not None and shot_distance(self._histogram, histogram) > self.settings.shot_change
        self._histogram = histogram
        if cut:
            self.cuts.append(t)
        search = cut or t % self.detect_every == 0
        self._step(t, frame if search else None, cut)
        self.last = (t, frame, search)
        self.frames += 1
        if self.on_frame is not None:
            self.pending.append((t, frame))
            self._release()

    def _step(self, t: int, frame: DecodedFrame | None, cut: bool) -> None:
        faces = None
        if frame is not None:
            faces = self.detector(frame.small_bgr(*self.size)) * self.to_source
            self.searched += 1
            self.most_faces = max(self.most_faces, len(faces))
        self.linker.step(t, faces, cut)
        known = {id(track) for track in self.active}
        self.active += [track for track in self.linker.open if id(track) not in known]

    def _final(self, f: int) -> bool:
        """Whether every track through frame f has its final box there."""
        return all(f + self.reach <= track.frames[-1] for track in self.linker.open if track.frames[0] <= f)

    def _release(self, everything: bool = False) -> None:
        ready = []
        while self.pending and (everything or self._final(self.pending[0][0])):
            ready.append(self.pending.popleft())
        if not ready:
            return
        frames = np.array([t for t, _ in ready])
        boxes: dict[int, list[tuple[FaceTrack, np.ndarray]]] = {t: [] for t in frames}
        for track in self.active:
            through = frames[(frames >= track.frames[0]) & (frames <= track.frames[-1])]
            if len(through):
                rows = smoothed_boxes(track, through, self.settings.smooth_frames).astype(np.float32)
                for t, row in zip(through, rows):
                    boxes[t].append((track, row))
        for t, frame in ready:
            self.on_frame(int(t), frame, boxes[t])
        oldest = self.pending[0][0] if self.pending else self.frames
        open_ids = {id(track) for track in self.linker.open}
        self.active = [track for track in self.active if id(track) in open_ids or track.frames[-1] >= oldest]

    def finish(self) -> StreamedTracks:
        if self.last is None:
            raise SkipClip("no video frames")
        t, frame, searched = self.last
        if not searched:  # search the last frame too, so that tracks reach the end of the video
            self._step(t, frame, False)
        if self.on_frame is not None:
            self.linker.end()
            self._release(everything=True)
        tracks = self.linker.tracks()
        if not tracks:
            raise SkipClip("no face")
        kept = speaking_face(tracks, self.settings.min_face_ratio)
        if not kept:
            longest = max(track.span for track in tracks)
            raise SkipClip(f"too short after cleaning: longest face track {longest} frames (< {MIN_SEGMENT_FRAMES})")
        record = {"frames": self.frames, "searched_frames": self.searched, "most_faces_in_a_frame": self.most_faces,
                  "face_tracks": len(tracks), "shot_changes": len(self.cuts), "decoded_size": list(self.size),
                  "detect_every": self.detect_every}
        unchosen = StreamedTracks(np.zeros((self.frames, len(TRACK_COLUMNS)), np.float32), record, [],
                                  usable_tracks(tracks), list(self.cuts))
        return unchosen.keeping(kept, self.settings.smooth_frames)


def stream_tracks(path: str | Path, detector: YuNetDetector, settings: TracksSettings,
                  on_frame: FrameCallback | None = None, info: VideoInfo | None = None) -> StreamedTracks:
    """One video's tracks from one decode; `on_frame` sees each frame with its final boxes (see above)."""
    info = info or probe(path)
    stream = TrackStream(detector, settings, info, on_frame)
    for frame in decoded_frames(path, info):
        stream.push(frame)
    return stream.finish()


def track_clip(path: str | Path, detector: YuNetDetector, settings: TracksSettings) -> tuple[np.ndarray, dict]:
    """The tracks stage's work on one clip by the "largest" rule: (track array, record)."""
    result = stream_tracks(path, detector, settings)
    return result.track, result.record
