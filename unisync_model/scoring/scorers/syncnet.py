"""The syncnet scorer: syncnet_python's SyncNet (`model/syncnet.SyncNetExpert`, weights
`syncnet_v2.model` found by the resolver, or a path) and its raw Euclidean distances, i.e. the
LSE-D / LSE-C that talking-face papers publish, so our numbers can be set beside theirs. Its
224 × 224 face crops are not a stage: it reads the video, and from `unisync score` on the same decode
as the face tracks (`StreamedCrops`, track_stream's `on_frame`), each track's crops embedded as the
frames pass.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.io.track_array import segments_of
from unisync_model.scoring.scorers import ClipData, NoScore, SegmentEmbeddings
from unisync_model.settings import WINDOW_FRAMES

VISUAL = "syncnet_visual"  # clip.arrays: the kept tracks' visual embeddings, one track after another
SPANS = "syncnet_spans"  # clip.arrays: each kept track's (start, stop, windows), in the order of its segments
MEDFILT_HALF = 6  # crop_video's 13-frame median filter reaches 6 frames either side


class StreamedCrops:
    """SyncNet's visual embeddings of every face track while the frames stream past (track_stream's
    `on_frame`): a frame is cropped once its box's 13-frame median is known (6 frames later, or at the
    track's end, zeros beyond it as scipy's medfilt pads), and the crops are embedded RUN_WINDOWS windows
    at a time, as `SyncNetExpert.embed_tracks` does after a decode of its own: the same numbers, one
    decode fewer. Every track is embedded, kept or not (which ones are kept is known at the end)."""

    def __init__(self, expert):
        self.expert = expert
        self.open: dict[int, dict] = {}  # id(track) → its frames waiting for their median, its crops, runs
        self.done: dict[int, np.ndarray] = {}  # id(track) → (T − 4) × 1024

    def __call__(self, t: int, frame, boxes: list) -> None:
        here = set()
        for track, box in boxes:
            here.add(id(track))
            state = self.open.setdefault(id(track), {"waiting": [], "dets": [], "next": 0,
                                                     "run": self.expert.new_run()})
            x1, y1, x2, y2 = (float(v) for v in box[:4])
            state["dets"].append((max(y2 - y1, x2 - x1) / 2, (x1 + x2) / 2, (y1 + y2) / 2))
            state["waiting"].append(frame)
            self._crop(state, ended=False)
        for key in [key for key in self.open if key not in here]:  # a track's frames are consecutive
            self._finish(key)

    def _crop(self, state: dict, ended: bool) -> None:
        from unisync_model.model.syncnet import syncnet_crop
        dets = state["dets"]
        while state["waiting"] and (ended or state["next"] + MEDFILT_HALF < len(dets)):
            i = state["next"]
            window = np.zeros((2 * MEDFILT_HALF + 1, 3))  # zeros beyond the track, as scipy's medfilt
            lo, hi = max(0, i - MEDFILT_HALF), min(len(dets), i + MEDFILT_HALF + 1)
            window[lo - (i - MEDFILT_HALF):hi - (i - MEDFILT_HALF)] = dets[lo:hi]  # 13 boxes, not the whole track
            frame = state["waiting"].pop(0)
            self.expert.add_crop(state["run"], syncnet_crop(frame.bgr(frame.info.width, frame.info.height),
                                                            *np.median(window, axis=0)))
            state["next"] += 1

    def _finish(self, key: int) -> None:
        state = self.open.pop(key)
        self._crop(state, ended=True)
        self.done[key] = self.expert.end_run(state["run"]).numpy()

    def arrays(self, kept: list, n_frames: int) -> dict[str, np.ndarray]:
        for key in list(self.open):
            self._finish(key)
        visual = [self.done[id(track)] for track in kept]
        spans = [(track.frames[0], track.frames[-1] + 1, len(v)) for track, v in zip(kept, visual)]
        return {VISUAL: np.concatenate(visual).astype(np.float32) if visual else np.zeros((0, 1024), np.float32),
                SPANS: np.array(spans, np.int64).reshape(-1, 3)}


class SyncNetScorer:
    """syncnet_python's SyncNet (syncnet.SyncNetExpert): crops from the video, MFCC from the audio."""

    name = "syncnet"
    normalise = False  # SyncNet's own Euclidean distance, as syncnet_python
    min_dist_scale = ("SyncNet's Euclidean distance at the best shift (LSE-D, unbounded; lower is better; "
                      "syncnet_python's example video: 5.353)")
    confidence_scale = ("SyncNet's median minus minimum distance (LSE-C, >= 0; higher is better; "
                        "syncnet_python's example video: 10.021)")
    window = WINDOW_FRAMES
    needs = ("tracks", "audio")
    needs_video = True  # its 224 × 224 face crops are not a stage: they come from the video

    def __init__(self, weights: str | Path | None = None, device=None):
        from unisync_model.model.syncnet import SYNCNET_FILE, SyncNetExpert
        self.expert = SyncNetExpert(weights or SYNCNET_FILE, device)
        self.description = (f"SyncNet ({Path(str(weights or SYNCNET_FILE)).name}, syncnet_python's): Euclidean "
                            f"distance of its embeddings, the LSE-D / LSE-C of talking-face papers")

    def frame_reader(self) -> StreamedCrops:
        """The crops' embeddings computed while the tracks stream past (videos.VideoLoader)."""
        return StreamedCrops(self.expert)

    def prepare(self, clip: ClipData) -> None:
        pass

    def embed(self, clip: ClipData) -> list[SegmentEmbeddings]:
        if VISUAL in clip.arrays:  # streamed with the tracks: each segment's windows, its own cut of the audio
            return self._embed_streamed(clip)
        if not clip.path:
            raise NoScore("SyncNet needs the video file (its face crops are not a stage)")
        found = {tuple(r["segment"]): r for r in self.expert.embed_clip(clip.path, clip.track, clip.samples)}
        out = []
        for start, stop in segments_of(clip.track):
            seg = SegmentEmbeddings(start, stop, first_frame=start)
            if (start, stop) in found:
                seg.visual = np.asarray(found[(start, stop)]["visual"], np.float32)
                seg.audio = np.asarray(found[(start, stop)]["audio"], np.float32)
            else:
                seg.reason = f"segment too short for SyncNet: {stop - start} frames (needs > {WINDOW_FRAMES})"
            out.append(seg)
        return out

    def _embed_streamed(self, clip: ClipData) -> list[SegmentEmbeddings]:
        """Segments from clip.arrays[VISUAL] / [SPANS] (StreamedCrops's, or the face-track protocol's),
        each with its own cut of the audio: syncnet_python's window count."""
        from unisync_model.model.syncnet import window_count
        out, first = [], 0
        for start, stop, windows in clip.arrays[SPANS].tolist():
            seg = SegmentEmbeddings(start, stop, first_frame=start)
            visual, first = clip.arrays[VISUAL][first:first + windows], first + windows
            piece = np.asarray(clip.samples)[start * SAMPLES_PER_FRAME:stop * SAMPLES_PER_FRAME]
            n = min(window_count(stop - start, len(piece)), windows)
            if n > 0:
                seg.visual, seg.audio = visual[:n], self.expert.embed_audio(piece, n).numpy()
            else:
                seg.reason = f"segment too short for SyncNet: {stop - start} frames (needs > {WINDOW_FRAMES})"
            out.append(seg)
        return out
