"""syncnet_python's protocols (`unisync score --scorer syncnet --protocol syncnet_python`), the paths
behind the LSE-D / LSE-C that papers report:

- **whole frame** (its `demo_syncnet.py` → `SyncNetInstance.evaluate`) for videos that are already
  224 × 224 face crops at 25 fps: no face detection, every frame is the crop, one segment covers the
  clip. As syncnet_python: ffmpeg writes the frames as JPEG (`-threads 1 -f image2 %06d.jpg`, ffmpeg's
  default quality) and the audio as a 16 kHz mono int16 wav (`-async 1 -ac 1 -vn -acodec pcm_s16le -ar
  16000`); cv2.imread reads the frames in sorted order (BGR, unresized), scipy the wav; MFCC, windows
  (min(T, ⌊samples / 640⌋) − 5) and the distance curve as `model/syncnet.py` and `model/lse.py`. With
  `jpeg=False` the frames come straight from the decoder instead (no JPEG loss; not syncnet_python's
  numbers). Checked against syncnet_python's own output: docs/syncnet_and_lse.md#protocols.
- **face tracks** (its `run_pipeline.py` then `run_syncnet.py`) for every other video: shots by
  PySceneDetect, faces on every frame, its tracking rules (extract/pipeline_tracks.py: tracks of more
  than 100 faces, faces above 100 px), crop scale 0.4 with its 13-frame median filter, each track scored
  on its own with its own cut of the wav; the video's numbers pool the tracks' windows, and the
  track_mean_* columns give LatentSync's mean over tracks.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from unisync_model.io.frames import decoded_frames
from unisync_model.io.media import MediaError, VideoInfo, file_url, probe, run, video_frames
from unisync_model.io.track_array import SEGMENT, TRACK_COLUMNS
from unisync_model.scoring.scorers import ClipData, NoScore, SegmentEmbeddings
from unisync_model.scoring.scorers.syncnet import SPANS, SyncNetScorer
from unisync_model.scoring.scorers.syncnet import VISUAL as TRACKS_VISUAL
from unisync_model.settings import FPS, SAMPLE_RATE, WINDOW_FRAMES, TracksSettings

VISUAL = "syncnet_python_visual"  # clip.arrays: the (T − 4) × 1024 visual embeddings of the whole frames
SIDE = 224  # SyncNet's input (model/syncnet.CROP_SIZE; that module imports torch, this one not yet)
RUN_WINDOWS = 200  # windows embedded per run of frames read (memory: RUN_WINDOWS + 4 frames of 150 kB)


def size_reason(width: int, height: int) -> str:
    return (f"a {width} × {height} frame: the whole-frame protocol needs every frame at {SIDE} × {SIDE} "
            f"(the video's header said so)")


def syncnet_python_audio(path: str | Path, folder: str | Path, stream: int | None = None) -> np.ndarray:
    """The int16 samples of syncnet_python's audio.wav: ffmpeg's 16 kHz mono pcm_s16le, read by scipy.
    `stream`: N of the audio stream (ffmpeg's 0:a:N) when chosen; syncnet_python lets ffmpeg pick."""
    from scipy.io import wavfile
    wav = Path(folder) / "audio.wav"
    pick = [] if stream is None else ["-map", f"0:a:{int(stream)}"]
    run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", file_url(path), *pick, "-async", "1", "-ac", "1",
         "-vn", "-acodec", "pcm_s16le", "-ar", str(SAMPLE_RATE), str(wav)])
    rate, samples = wavfile.read(wav)
    if rate != SAMPLE_RATE or samples.dtype != np.int16 or samples.ndim != 1:
        raise MediaError(f"unexpected wav from ffmpeg: {rate} Hz, {samples.dtype}, shape {samples.shape}")
    return samples


def jpeg_frames(path: str | Path, folder: str | Path, info: VideoInfo) -> Iterator[np.ndarray]:
    """The frames as syncnet_python reads them: ffmpeg's JPEGs (default quality), cv2.imread in sorted
    order. The JPEGs are all written first (ffmpeg's CFR output at the stored rate), then read one by one."""
    import cv2
    run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", file_url(path), "-map", f"0:{info.video_stream}",
         "-threads", "1", "-f", "image2", str(Path(folder) / "%06d.jpg")])
    for name in sorted(Path(folder).glob("*.jpg")):
        frame = cv2.imread(str(name))
        if frame is None:
            raise MediaError(f"unreadable JPEG frame {name.name} written by ffmpeg")
        yield frame


def whole_frame_track(frames: int, width: int, height: int) -> np.ndarray:
    """A track array whose box is the whole frame and whose one segment spans every frame (no detector:
    score, keypoints NaN, detected 0)."""
    track = np.full((frames, len(TRACK_COLUMNS)), np.nan, np.float32)
    track[:, :4] = (0, 0, width, height)
    track[:, TRACK_COLUMNS.index("detected")] = 0
    track[:, SEGMENT] = 0
    return track


class SyncNetPythonScorer(SyncNetScorer):
    """SyncNet on whole 224 × 224 frames and ffmpeg's wav, as syncnet_python's demo_syncnet.py."""

    syncnet_python_lse = True  # results.score_clip: its own arithmetic (zero-padded audio, no speech gate)

    needs = ()  # reads the video itself, never the shards (a shard's track and audio are replaced)
    needs_video = True
    tracks_faces = False  # videos.VideoLoader tracks no face: `prepare` gives the clip its whole-frame track

    def __init__(self, weights: str | Path | None = None, device=None, jpeg: bool = True,
                 tracks: TracksSettings | None = None):
        from unisync_model.model.syncnet import SYNCNET_FILE
        super().__init__(weights, device)
        self.jpeg = jpeg
        self.tracks = tracks or TracksSettings()  # the face detector of the face-track protocol
        frames = ("JPEG frames as syncnet_python extracts them" if jpeg
                  else "frames straight from the decoder, no JPEG round trip")
        self.description = (f"SyncNet ({Path(str(weights or SYNCNET_FILE)).name}, syncnet_python's) with "
                            f"syncnet_python's protocols (224 × 224 videos: demo_syncnet.py, the frame is the face, "
                            f"{frames}; others: run_pipeline.py's face tracks, each scored on its own): Euclidean "
                            f"distance of its embeddings, the LSE-D / LSE-C of talking-face papers")

    def prepare(self, clip: ClipData) -> None:
        """The visual embeddings (clip.arrays[VISUAL]: the whole frames'; or clip.arrays[TRACKS_VISUAL]: each face
        track's), the clip's track (the whole frame's, or one without boxes that gives the frame count),
        and syncnet_python's wav as clip.samples (int16 / 32768, exact); once per clip (a copy whose audio
        was shifted keeps its samples: `embed` embeds the audio)."""
        if VISUAL in clip.arrays or TRACKS_VISUAL in clip.arrays:
            return
        if not clip.path:
            raise NoScore("the syncnet_python protocol needs the video file")
        try:
            info = probe(clip.path)
            if (info.width, info.height) != (SIDE, SIDE) or abs(info.fps - FPS) > 0.01:
                self._prepare_tracks(clip, info)
                return
            with tempfile.TemporaryDirectory(prefix="unisync-syncnet_python-") as folder:
                samples = syncnet_python_audio(clip.path, folder, clip.audio_stream)
                frames = jpeg_frames(clip.path, folder, info) if self.jpeg else video_frames(clip.path, info=info)
                visual, count = self.embed_frames(frames)
        except MediaError as err:
            raise NoScore(str(err)) from None
        clip.samples = samples.astype(np.float32) / np.float32(32768)
        clip.track = whole_frame_track(count, info.width, info.height)
        clip.arrays[VISUAL] = visual

    def _prepare_tracks(self, clip: ClipData, info: VideoInfo) -> None:
        """run_pipeline.py's face tracks (extract/pipeline_tracks.py) and each one's embeddings
        (clip.arrays[TRACKS_VISUAL] and [SPANS], as the syncnet scorer's StreamedCrops gives them), syncnet_python's
        wav as the samples."""
        from unisync_model.extract.faces import YuNetDetector, detect_size
        from unisync_model.extract.pipeline_tracks import MIN_FACE_SIZE, MIN_TRACK, pipeline_tracks, shots
        from unisync_model.model.syncnet import EMBED_DIM

        detector, size = YuNetDetector(self.tracks), detect_size(info.width, info.height, self.tracks.detect_width)
        scale = np.array([info.width / size[0], info.height / size[1]] * 2, np.float32)
        faces = [detector(frame.small_bgr(*size))[:, :4] * scale for frame in decoded_frames(clip.path, info)]
        found = pipeline_tracks(faces, shots(clip.path, len(faces)))
        if not found:
            raise NoScore(f"no face track as syncnet_python's run_pipeline.py keeps them (a shot of at least "
                          f"{MIN_TRACK} frames, a face on more than {MIN_TRACK} of them, {MIN_FACE_SIZE} px or "
                          f"larger); the default protocol scores shorter tracks")
        with tempfile.TemporaryDirectory(prefix="unisync-syncnet_python-") as folder:
            samples = syncnet_python_audio(clip.path, folder, clip.audio_stream)
        clip.samples = samples.astype(np.float32) / np.float32(32768)
        embedded = self.expert.embed_tracks(clip.path, [(int(track.frames[0]), track.boxes) for track in found],
                                            clip.samples, with_audio=False)
        windows = {tuple(r["segment"]): np.asarray(r["visual"], np.float32) for r in embedded}
        spans = [(int(track.frames[0]), int(track.frames[-1]) + 1) for track in found]
        clip.arrays[SPANS] = np.array([(a, b, len(windows.get((a, b), ()))) for a, b in spans], np.int64)
        clip.arrays[TRACKS_VISUAL] = np.concatenate([windows.get(span, np.zeros((0, EMBED_DIM), np.float32))
                                                     for span in spans])
        clip.track = whole_frame_track(len(faces), info.width, info.height)  # the frame count; no box drawn
        clip.track[:, SEGMENT] = -1

    def embed_frames(self, frames: Iterable[np.ndarray]) -> tuple[np.ndarray, int]:
        """The visual embeddings of every 5-frame window of a stream of frames, (T − 4) × 1024, embedded
        a run at a time (consecutive runs share 4 frames); and T."""
        runs, run_frames, count = [], [], 0
        for frame in frames:
            if frame.shape != (SIDE, SIDE, 3):
                raise NoScore(size_reason(frame.shape[1], frame.shape[0]))
            run_frames.append(frame)
            count += 1
            if len(run_frames) == RUN_WINDOWS + WINDOW_FRAMES - 1:
                runs.append(self.expert.embed_visual(np.stack(run_frames)).numpy())
                run_frames = run_frames[RUN_WINDOWS:]
        if len(run_frames) >= WINDOW_FRAMES:
            runs.append(self.expert.embed_visual(np.stack(run_frames)).numpy())
        if not runs:
            from unisync_model.model.syncnet import EMBED_DIM
            return np.zeros((0, EMBED_DIM), np.float32), count
        return np.concatenate(runs), count

    def embed(self, clip: ClipData) -> list[SegmentEmbeddings]:
        """One segment, the whole clip: syncnet_python's min(T, ⌊samples / 640⌋) − 5 windows."""
        from unisync_model.model.syncnet import window_count
        self.prepare(clip)
        if TRACKS_VISUAL in clip.arrays:  # the face-track protocol: a segment per track, its own cut of the audio
            return self._embed_streamed(clip)
        seg = SegmentEmbeddings(0, clip.frames, first_frame=0)
        n = window_count(clip.frames, len(clip.samples))
        if n == 0:
            seconds = len(clip.samples) / SAMPLE_RATE
            seg.reason = (f"video too short for SyncNet: {clip.frames} frames, {seconds:.2f} s of audio (needs "
                          f"more than {WINDOW_FRAMES} frames of both)")
        else:
            seg.visual = np.asarray(clip.arrays[VISUAL][:n], np.float32)
            seg.audio = self.expert.embed_audio(clip.samples, n).numpy()
        return [seg]
