"""A corpus of the inputs real folders of video contain: broken, odd and awkwardly named files.

`make_bad_corpus(root)` writes one file per case (each in its own speaker folder, the good
awkwardly-named clips together) and returns {path relative to root: expected outcome}: "ok", or the
start of the reason the clip is skipped with, by the manifest or by the stage that meets the problem.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import cv2

OK = "ok"
FACE_SIDE = 160  # YuNet finds the astronaut's face at this size (it fills ~60 % of the frame)
# Good clips whose names would break anything that goes through a shell or splits on spaces.
WEIRD_NAMES = ["weird/with space.mp4", "Zoë 说话/Zoë 说话.mp4", "weird/semi;colon.mp4",
               "$(touch pwned)/$(touch pwned).mp4", "weird/it's.mp4", 'weird/say "hi".mp4']
PWNED = "pwned"  # the file `$(touch pwned)` would create if a name ever reached a shell


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True,
                   stdin=subprocess.DEVNULL)


def face_image(path: Path, side: int = FACE_SIDE) -> Path:
    """The astronaut photo (scikit-image) cropped around her face, as a side × side PNG."""
    from skimage.data import astronaut

    crop = astronaut()[20:205, 130:315]  # the head with some margin: hair top y~17, chin y~177
    cv2.imwrite(str(path), cv2.resize(crop[..., ::-1], (side, side), interpolation=cv2.INTER_AREA))
    return path


def face_clip(out: Path, face: Path, seconds: float = 1.0, audio_seconds: float | None = None,
              vf: str = "null", codec: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast")) -> Path:
    """The still face at 25 fps with a tone (a wobble of the tone keeps it from being pure silence)."""
    ffmpeg("-loop", "1", "-framerate", "25", "-t", seconds, "-i", face,
           "-f", "lavfi", "-i", f"sine=frequency=220:beep_factor=4:duration={audio_seconds or seconds}",
           "-vf", f"{vf},format=yuv420p", *codec, "-c:a", "aac", out)
    return out


def make_bad_corpus(root: str | Path) -> dict[str, str]:
    root = Path(root)
    work = root.parent / f".{root.name}-work"  # intermediates, outside the corpus
    work.mkdir(parents=True, exist_ok=True)
    face = face_image(work / "face.png")
    good = face_clip(work / "good.mp4", face)
    expected: dict[str, str] = {}

    def out(relative: str, outcome: str) -> Path:
        expected[relative] = outcome
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        return root / relative

    out("empty/clip.mp4", "unreadable: empty file").touch()
    data = good.read_bytes()  # ffmpeg writes the moov atom last, so the first half has none
    out("truncated/clip.mp4", "unreadable: truncated").write_bytes(data[: len(data) // 2])
    for relative in WEIRD_NAMES:
        shutil.copy(good, out(relative, OK))

    tone = ("-f", "lavfi", "-i", "sine=frequency=300:duration=1")
    jobs = [
        lambda: ffmpeg("-loop", "1", "-framerate", "25", "-t", "1", "-i", face, "-c:v", "libx264",
                       "-preset", "ultrafast", "-pix_fmt", "yuv420p", out("video_only/clip.mp4", "no audio stream")),
        lambda: ffmpeg(*tone, "-c:a", "aac", out("audio_only/clip.mp4", "no video stream")),
        # an audio file with cover art: its one "video" stream is an attached picture
        lambda: ffmpeg(*tone, "-i", face, "-map", "0:a", "-map", "1:v", "-c:a", "aac", "-c:v", "mjpeg",
                       "-disposition:v:0", "attached_pic", out("cover_art/clip.mp4", "no video stream")),
        lambda: face_clip(out("three_frames/clip.mp4", "too short"), face, seconds=0.12),
        lambda: ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x160:rate=25:duration=1", *tone, "-c:v", "libx264",
                       "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                       out("no_face/clip.mp4", "no face")),
        lambda: ffmpeg("-f", "lavfi", "-i", "testsrc=size=1x1:rate=25:duration=1", *tone, "-c:v", "libx264",
                       "-pix_fmt", "yuv444p", "-c:a", "aac", out("one_pixel/clip.mp4", "no face")),
        lambda: face_clip(out("uhd/clip.mp4", OK), face, vf="scale=-2:2160,pad=3840:2160:(ow-iw)/2:0"),
        lambda: face_clip(out("long_audio/clip.mp4", OK), face, seconds=1.0, audio_seconds=2.0),
        # variable frame rate: 1 s at 10 fps then 1 s at 30 fps (ffprobe: avg 20 fps, r_frame_rate 30)
        lambda: ffmpeg("-loop", "1", "-framerate", "10", "-t", "1", "-i", face,
                       "-loop", "1", "-framerate", "30", "-t", "1", "-i", face,
                       "-f", "lavfi", "-i", "sine=frequency=220:beep_factor=4:duration=2",
                       "-filter_complex", "[0][1]concat=n=2:v=1,format=yuv420p[v]", "-map", "[v]", "-map", "2:a",
                       "-c:v", "libx264", "-preset", "ultrafast", "-fps_mode", "vfr", "-c:a", "aac",
                       out("vfr/clip.mp4", OK)),
        # stored sideways, with a display matrix that turns it upright (YuNet finds sideways faces too, so
        # test_bad_inputs checks the orientation against an upright clip)
        lambda: ffmpeg("-i", face_clip(work / "sideways.mp4", face, vf="transpose=clock"), "-c", "copy",
                       "-metadata:s:v:0", "rotate=90", out("rotated/clip.mp4", OK)),
        lambda: face_clip(out("hevc/clip.mp4", OK), face, codec=("-c:v", "libx265", "-preset", "ultrafast",
                                                                  "-x265-params", "log-level=none")),
    ]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda job: job(), jobs))
    shutil.rmtree(work)
    return expected


def frame_rates(path: str | Path) -> tuple[float, float]:
    """ffprobe's (avg_frame_rate, r_frame_rate) of the first video stream."""
    stream = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=avg_frame_rate,r_frame_rate",
         "-of", "json", f"file:{Path(path).resolve()}"], capture_output=True, check=True).stdout)["streams"][0]
    return float(Fraction(stream["avg_frame_rate"])), float(Fraction(stream["r_frame_rate"]))
