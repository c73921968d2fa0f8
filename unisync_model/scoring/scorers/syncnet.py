"""The syncnet scorer: syncnet_python's SyncNet (`model/syncnet.SyncNetExpert`, weights
`syncnet_v2.model` found by the resolver, or a path) and its raw Euclidean distances, i.e. the
LSE-D / LSE-C that talking-face papers publish, so our numbers can be set beside theirs. Its
224 × 224 face crops are not a stage: it always reads the video.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from unisync_model.io.track_array import segments_of
from unisync_model.scoring.scorers import ClipData, NoScore, SegmentEmbeddings
from unisync_model.settings import WINDOW_FRAMES


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

    def prepare(self, clip: ClipData) -> None:
        pass

    def embed(self, clip: ClipData) -> list[SegmentEmbeddings]:
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
