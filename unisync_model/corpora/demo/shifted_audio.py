"""Demo clips with their audio out of sync, as corpora other than LRS2 have them: a share of the
training clips gets its audio delayed or advanced by ffmpeg by a few frames (the video stream is
copied), and `audio_shifts.csv` records the truth, so that the resync stage can be checked against it.

Sign: `delay_frames` > 0 delays the audio (heard after the mouth moves), so a scorer should report
the offset −delay_frames (results.py's convention: > 0, the audio leads).
"""
from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np

from unisync_model.settings import FPS

SHIFTS_CSV = "audio_shifts.csv"


def shift_audio(path: Path, delay_frames: int) -> None:
    """Rewrite an .mp4 in place with its audio delayed by `delay_frames` 25 fps frames (advanced when
    negative): silence fills the start (or the end), the length stays the video's, the video is copied."""
    seconds = abs(delay_frames) / FPS
    if delay_frames > 0:
        chain = f"adelay=delays={round(seconds * 1000)}:all=1"
    else:
        chain = f"atrim=start={seconds:.3f},asetpts=PTS-STARTPTS"
    out = path.with_name(path.stem + ".shifting" + path.suffix)
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(path), "-map", "0:v:0", "-map", "0:a:0",
               "-c:v", "copy", "-af", chain + ",apad", "-shortest", "-c:a", "aac", "-b:a", "48k",
               "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-movflags", "+faststart",
               str(out)]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        out.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg could not shift the audio of {path}: {result.stderr.decode(errors='replace')}")
    out.replace(path)


def shift_training_audio(root: Path, share: float, frames: tuple[int, int], seed: int) -> list[dict]:
    """Shift the audio of round(share × training clips) of a demo corpus at `root` (LRS2 layout), each by
    a whole number of frames drawn uniformly from ±[frames[0], frames[1]], and write audio_shifts.csv
    (every training clip, 0 for the unshifted). Returns its rows."""
    low, high = frames
    if not 0 <= share <= 1 or not 1 <= low <= high:
        raise ValueError(f"need 0 <= share <= 1 and 1 <= frames[0] <= frames[1], not {share} and {frames}")
    names = (Path(root) / "train.txt").read_text().split()
    rng = np.random.default_rng([seed, 18])
    chosen = set(rng.choice(len(names), size=round(share * len(names)), replace=False).tolist())
    rows = []
    for i, name in enumerate(names):
        delay = int(rng.integers(low, high + 1)) * int(rng.choice([-1, 1])) if i in chosen else 0
        if delay:
            shift_audio(Path(root) / "mvlrs_v1" / "main" / f"{name}.mp4", delay)
        rows.append({"clip_id": name, "delay_frames": delay, "expected_offset": -delay})
    with open(Path(root) / SHIFTS_CSV, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["clip_id", "delay_frames", "expected_offset"])
        writer.writeheader()
        writer.writerows(rows)
    return rows
