"""The demo corpus on disk: clips written by ffmpeg, laid out like LRS2, built in `<root>.tmp` and
moved into place only once complete."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from unisync_model.corpora.demo.cast import SPLITS, Speaker, check_split_speakers, make_speakers, seeded_rng
from unisync_model.corpora.demo.face import FaceRenderer, mouth_box, render_frames
from unisync_model.corpora.demo.shifted_audio import shift_training_audio
from unisync_model.corpora.demo.voices import mouth_controls, sentence_audio
from unisync_model.settings import FPS, SAMPLE_RATE

SPEAKERS_CSV = "speakers.csv"


def require_programs() -> None:
    """Raise RuntimeError naming the missing program (and its apt package) if espeak-ng or ffmpeg is absent."""
    for program, package in (("espeak-ng", "espeak-ng"), ("ffmpeg", "ffmpeg")):
        if shutil.which(program) is None:
            raise RuntimeError(f"the demo corpus needs the `{program}` program, which is not on PATH: "
                               f"install it with `apt-get install {package}`")



def write_clip(path: Path, frames: np.ndarray, audio: np.ndarray, workdir: Path) -> None:
    """H.264 (yuv420p) at 25 fps with an AAC 16 kHz mono track, by ffmpeg: frames on stdin, audio from a wav."""
    import soundfile

    wav = workdir / "clip.wav"
    soundfile.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
    height, width = frames.shape[1:3]
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(FPS), "-i", "pipe:0",
               "-i", str(wav), "-map", "0:v:0", "-map", "1:a:0",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-threads", "1",
               "-c:a", "aac", "-b:a", "48k", "-ar", str(SAMPLE_RATE), "-ac", "1",
               "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
               "-movflags", "+faststart", str(path)]
    result = subprocess.run(command, input=frames.tobytes(), capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {path}: {result.stderr.decode(errors='replace').strip()}")


def _make_clip(speaker: Speaker, renderer: FaceRenderer, speaker_index: int, clip: int, seed: int,
               folder: Path, scratch: Path) -> None:
    rng = seeded_rng(seed, 2, speaker_index, clip)
    workdir = scratch / f"{speaker.video_id}_{clip:05d}"
    workdir.mkdir()
    text, audio = sentence_audio(speaker, rng, workdir)
    openness, width = mouth_controls(audio)
    frames = render_frames(renderer, openness, width, rng)
    write_clip(folder / f"{clip:05d}.mp4", frames, audio, workdir)
    (folder / f"{clip:05d}.txt").write_text(f"Text:  {text.upper()}\n", encoding="utf-8")
    shutil.rmtree(workdir, ignore_errors=True)


def make_demo_corpus(root: Path, *, speakers: int, clips_per_speaker: int, split_speakers: dict[str, int],
                     seed: int, size: int = 160, shift_share: float = 0.0,
                     shift_frames: tuple[int, int] = (3, 10)) -> None:
    """Generate the demo corpus at `root`, laid out like LRS2, with splits by speaker; with `shift_share`,
    that share of the training clips gets its audio shifted by ffmpeg by ±shift_frames (shifted_audio.py).

    Built in `<root>.tmp` beside it and moved onto `root` (replacing it) only once complete. The same seed
    gives the same speakers, sentences and faces (the encoders aside). Raises ValueError if the split sizes
    do not add up to `speakers`, RuntimeError if espeak-ng or ffmpeg is missing."""
    if speakers < 1 or clips_per_speaker < 1:
        raise ValueError(f"need at least one speaker and one clip per speaker, not {speakers} and {clips_per_speaker}")
    if size < 32 or size % 2:
        raise ValueError(f"size must be even (H.264 with yuv420p) and at least 32, not {size}")
    check_split_speakers(speakers, split_speakers)
    require_programs()
    root = Path(root)
    cast = make_speakers(speakers, split_speakers, seed)
    building = root.with_name(root.name + ".tmp")
    if building.exists():
        shutil.rmtree(building)
    try:
        main = building / "mvlrs_v1" / "main"
        jobs = []
        renderers = {}
        for index, speaker in enumerate(cast):
            (main / speaker.video_id).mkdir(parents=True)
            renderers[speaker.video_id] = FaceRenderer(speaker, size)
            jobs += [(speaker, index, clip) for clip in range(1, clips_per_speaker + 1)]
        with tempfile.TemporaryDirectory(prefix="unisync-demo-") as scratch, \
                ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
            futures = [pool.submit(_make_clip, speaker, renderers[speaker.video_id], index, clip, seed,
                                   main / speaker.video_id, Path(scratch)) for speaker, index, clip in jobs]
            for future in futures:
                future.result()
        for split in SPLITS:
            names = [f"{speaker.video_id}/{clip:05d}" for speaker, _, clip in jobs if speaker.split == split]
            (building / f"{split}.txt").write_text("".join(f"{name}\n" for name in names))
        write_speakers_csv(building / SPEAKERS_CSV, cast, size)
        if shift_share:
            shift_training_audio(building, shift_share, shift_frames, seed)
        if root.exists():
            shutil.rmtree(root)
        os.replace(building, root)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def make_demo_clip(path: Path, *, seed: int = 0, size: int = 160) -> str:
    """Write one talking-face clip (the first clip of the first speaker that `seed` casts) to `path`, an .mp4,
    and return its transcript: a quick real input for tests of decoding, face tracking or feature extraction."""
    if size < 32 or size % 2:
        raise ValueError(f"size must be even (H.264 with yuv420p) and at least 32, not {size}")
    require_programs()
    path = Path(path)
    speaker = make_speakers(1, {"train": 1}, seed)[0]
    rng = seeded_rng(seed, 2, 0, 1)
    with tempfile.TemporaryDirectory(prefix="unisync-demo-") as scratch:
        text, audio = sentence_audio(speaker, rng, Path(scratch))
        openness, width = mouth_controls(audio)
        frames = render_frames(FaceRenderer(speaker, size), openness, width, rng)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, frames, audio, Path(scratch))
    return text


def write_speakers_csv(path: Path, cast: list[Speaker], size: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "split", "voice", "language", "pitch", "speed", "face",
                         "mouth_x", "mouth_y", "mouth_width"])
        for speaker in cast:
            x, y, w = mouth_box(speaker, size)
            writer.writerow([speaker.video_id, speaker.split, speaker.voice, speaker.language, speaker.pitch,
                             speaker.speed, speaker.face_description(), f"{x:.1f}", f"{y:.1f}", f"{w:.1f}"])


def read_speakers(root: Path) -> list[dict[str, str]]:
    """The rows of a demo corpus's speakers.csv (video_id, split, voice, ..., mouth_x, mouth_y, mouth_width)."""
    with open(Path(root) / SPEAKERS_CSV, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
