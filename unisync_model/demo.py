"""The embedded demo corpus: synthetic speakers with real synthetic speech and a real face whose
mouth moves with that speech, laid out exactly like LRS2, made with no network.

Speech comes from espeak-ng (a different voice, pitch and speed per speaker, random sentences).
The face is the astronaut photo that ships with scikit-image, varied per speaker (mirror, colour,
scale, rotation, position). For each 40 ms video frame, the loudness of that frame's audio opens
the jaw (a smooth downward warp of the lower face, the gap filled with a dark mouth interior) and
its spectral centroid widens or narrows the mouth, so the mouth follows the speech frame by frame.
Head sway and sensor noise are independent of the speech, so the mouth is the only sync cue.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import librosa
import numpy as np
import soundfile

from unisync_model.settings import FPS, SAMPLE_RATE

SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
MIN_SECONDS, MAX_SECONDS = 2.0, 5.0

# The astronaut photo (512 × 512): face box and mouth measured once with OpenCV's YuNet
# (box x 178–268, y 63–176; mouth corners (198.6, 142.8) and (239.7, 143.6)).
FACE_CENTRE = (223.0, 120.0)
MOUTH_CENTRE = (219.0, 143.5)
MOUTH_HALF_WIDTH = 20.5
FACE_HEIGHT = 113.0
SOURCE_CROP = 240  # the square of the photo we animate, centred on FACE_CENTRE

VOICES = ["en-us", "en-gb", "en-gb-scotland", "de", "fr-fr", "es", "it", "pt", "nl", "pl", "sv", "cs",
          "en-us-nyc", "ro", "fi", "da"]
WORDS = ("apple river window garden yellow morning people silver number better simple open paper music "
         "water table little mountain summer velvet bottle pocket rabbit mirror station market thunder "
         "island lemon kitchen forest candle monkey pillow hammer jacket basket doctor orange pepper "
         "tiger violet wonder zebra button castle dinner feather ladder meadow nickel puzzle rocket "
         "saddle tunnel valley whisper again about under before after always maybe never").split()


@dataclass(frozen=True)
class Speaker:
    video_id: str
    voice: str
    pitch: int
    speed: int
    split: str
    mirror: bool
    hue: int  # OpenCV hue shift (0–179 wraps)
    saturation: float
    brightness: float
    scale: float
    rotation: float  # degrees
    shift: tuple[float, float]  # fraction of the frame

    def face_description(self) -> str:
        return (f"mirror={self.mirror} hue={self.hue:+d} saturation×{self.saturation:.2f} "
                f"brightness×{self.brightness:.2f} scale×{self.scale:.2f} rotation={self.rotation:+.1f}° "
                f"shift=({self.shift[0]:+.2f},{self.shift[1]:+.2f})")


def require_programs() -> None:
    for program, package in (("espeak-ng", "espeak-ng"), ("ffmpeg", "ffmpeg")):
        if shutil.which(program) is None:
            raise RuntimeError(f"the demo corpus needs `{program}`: install it with `apt-get install {package}`")


def make_speakers(count: int, split_speakers: dict[str, int], rng: np.random.Generator) -> list[Speaker]:
    if sum(split_speakers.values()) != count:
        raise ValueError(f"split_speakers {split_speakers} add up to {sum(split_speakers.values())}, "
                         f"not to the {count} speakers")
    splits = [split for split, n in split_speakers.items() for _ in range(n)]
    voices = rng.permutation(VOICES)
    return [Speaker(video_id=f"demo_spk{k:02d}", voice=str(voices[k % len(voices)]),
                    pitch=int(rng.integers(20, 81)), speed=int(rng.integers(140, 191)), split=splits[k],
                    mirror=bool(k % 2), hue=int(rng.integers(-6, 7)), saturation=float(rng.uniform(0.6, 1.3)),
                    brightness=float(rng.uniform(0.75, 1.2)), scale=float(rng.uniform(0.9, 1.15)),
                    rotation=float(rng.uniform(-6, 6)), shift=(float(rng.uniform(-0.06, 0.06)),
                                                              float(rng.uniform(-0.05, 0.05))))
            for k in range(count)]


# ------------------------------------------------------------------ speech

def speak(text: str, speaker: Speaker, workdir: Path) -> np.ndarray:
    """espeak-ng's rendering of `text`, as 16 kHz mono float32 with the silence at both ends trimmed."""
    wav = workdir / "speech.wav"
    subprocess.run(["espeak-ng", "-v", speaker.voice, "-p", str(speaker.pitch), "-s", str(speaker.speed),
                    "-w", str(wav), text], check=True, capture_output=True)
    audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    audio = librosa.resample(audio.mean(axis=1), orig_sr=rate, target_sr=SAMPLE_RATE)
    audio, _ = librosa.effects.trim(audio, top_db=40)
    return audio


def sentence_audio(speaker: Speaker, rng: np.random.Generator, workdir: Path) -> tuple[str, np.ndarray]:
    """A random sentence spoken by the speaker, 2–5 s long (words are added until it lasts 2 s;
    past 5 s it is cut at the quietest frame of its last second)."""
    words = list(rng.choice(WORDS, size=int(rng.integers(5, 10))))
    while True:
        text = " ".join(words)
        audio = speak(text, speaker, workdir)
        if len(audio) >= MIN_SECONDS * SAMPLE_RATE:
            break
        words += list(rng.choice(WORDS, size=3))
    if len(audio) > MAX_SECONDS * SAMPLE_RATE:
        frames = audio[: int(MAX_SECONDS * SAMPLE_RATE)].reshape(-1, SAMPLES_PER_FRAME)
        last_second = np.arange(len(frames) - FPS, len(frames))
        cut = last_second[np.argmin(np.sqrt((frames[last_second] ** 2).mean(axis=1)))]
        audio = frames[:cut + 1].ravel()
    frames = len(audio) // SAMPLES_PER_FRAME
    audio = audio[: frames * SAMPLES_PER_FRAME]  # whole video frames, so audio and video end together
    return text, 0.9 * audio / max(float(np.abs(audio).max()), 1e-6)


def mouth_controls(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per video frame: openness in [0, 1] from its loudness, width factor in [0.75, 1.25] from its spectrum."""
    frames = audio.reshape(-1, SAMPLES_PER_FRAME)
    db = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-8)
    loudest = np.percentile(db, 99)
    # a 32 dB range below the loudest frames, curved so that syllable-level dips show in the jaw
    openness = np.clip((db - (loudest - 32.0)) / 32.0, 0.0, 1.0) ** 1.3
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(SAMPLES_PER_FRAME), axis=1))
    freqs = np.fft.rfftfreq(SAMPLES_PER_FRAME, 1 / SAMPLE_RATE)
    centroid = (spectrum * freqs).sum(axis=1) / (spectrum.sum(axis=1) + 1e-8)
    width = 0.75 + 0.5 * np.clip((centroid - 400.0) / 2600.0, 0.0, 1.0)
    return openness, np.where(openness > 0, width, 1.0)


# ------------------------------------------------------------------ face

def speaker_face(astronaut: np.ndarray, speaker: Speaker) -> np.ndarray:
    """The speaker's colour variant of the photo's face square (SOURCE_CROP², RGB)."""
    x0, y0 = int(FACE_CENTRE[0] - SOURCE_CROP / 2), int(FACE_CENTRE[1] - SOURCE_CROP / 2)
    padded = cv2.copyMakeBorder(astronaut, SOURCE_CROP, SOURCE_CROP, SOURCE_CROP, SOURCE_CROP, cv2.BORDER_REFLECT)
    face = padded[y0 + SOURCE_CROP: y0 + 2 * SOURCE_CROP, x0 + SOURCE_CROP: x0 + 2 * SOURCE_CROP]
    hsv = cv2.cvtColor(face, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + speaker.hue) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * speaker.saturation, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * speaker.brightness, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def open_mouth(face: np.ndarray, openness: float, width: float) -> np.ndarray:
    """Drop the jaw by up to 0.7 × the mouth's half width and fill the gap with the mouth interior."""
    if openness <= 0:
        return face
    mx, my = MOUTH_CENTRE[0] - (FACE_CENTRE[0] - SOURCE_CROP / 2), MOUTH_CENTRE[1] - (FACE_CENTRE[1] - SOURCE_CROP / 2)
    half = MOUTH_HALF_WIDTH * width
    drop = openness * 0.7 * MOUTH_HALF_WIDTH
    ys, xs = np.mgrid[0:face.shape[0], 0:face.shape[1]].astype(np.float32)
    across = np.exp(-((xs - mx) / (1.7 * half)) ** 2)
    below = np.clip((ys - my) / 3.0, 0, 1) * np.clip((my + 70 - ys) / 30.0, 0, 1)  # lips to chin, not the neck
    warped = cv2.remap(face, xs, ys - drop * across * below, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    centre = (int(round(mx * 4)), int(round((my + drop / 2) * 4)))
    axes = (int(round(half * 0.85 * 4)), max(1, int(round(drop / 2 * 4))))
    cv2.ellipse(warped, centre, axes, 0, 0, 360, (70, 18, 24), -1, cv2.LINE_AA, shift=2)
    if drop > 5:  # upper teeth show when the mouth is wide open
        teeth = (centre[0], centre[1] - axes[1] + int(drop * 0.6)), (int(axes[0] * 0.7), max(1, int(drop * 0.5)))
        cv2.ellipse(warped, teeth[0], teeth[1], 0, 180, 360, (225, 220, 205), -1, cv2.LINE_AA, shift=2)
    return warped


def frame_transform(speaker: Speaker, size: int, t: float, phase: np.ndarray) -> np.ndarray:
    """Affine map from the face square to the output frame: the speaker's framing plus a slow sway."""
    zoom = size / (FACE_HEIGHT / 0.62) * speaker.scale  # the face fills about 62 % of the frame height
    angle = speaker.rotation + 1.2 * np.sin(2 * np.pi * t / 3.7 + phase[0])
    matrix = cv2.getRotationMatrix2D((SOURCE_CROP / 2, SOURCE_CROP / 2), angle, zoom)
    matrix[0, 2] += size / 2 - SOURCE_CROP / 2 + size * (speaker.shift[0] + 0.012 * np.sin(2 * np.pi * t / 2.9 + phase[1]))
    matrix[1, 2] += size / 2 - SOURCE_CROP / 2 + size * (speaker.shift[1] + 0.01 * np.sin(2 * np.pi * t / 2.3 + phase[2]))
    return matrix


def render_frames(face: np.ndarray, speaker: Speaker, openness: np.ndarray, width: np.ndarray, size: int,
                  rng: np.random.Generator) -> np.ndarray:
    phase = rng.uniform(0, 2 * np.pi, 3)
    frames = np.empty((len(openness), size, size, 3), np.uint8)
    for i, (o, w) in enumerate(zip(openness, width)):
        image = cv2.warpAffine(open_mouth(face, float(o), float(w)), frame_transform(speaker, size, i / FPS, phase),
                               (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
        if speaker.mirror:
            image = image[:, ::-1]
        noise = rng.normal(0, 2.0, image.shape)
        frames[i] = np.clip(image + noise, 0, 255).astype(np.uint8)
    return frames


def write_clip(path: Path, frames: np.ndarray, audio: np.ndarray, workdir: Path) -> None:
    wav = workdir / "clip.wav"
    soundfile.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
    size = frames.shape[1]
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", f"{size}x{size}", "-r", str(FPS), "-i", "pipe:", "-i", str(wav),
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "64k", "-ar", str(SAMPLE_RATE), "-ac", "1", str(path)],
                   input=frames.tobytes(), check=True, capture_output=True)


# ------------------------------------------------------------------ corpus

def make_demo_corpus(root: Path, *, speakers: int, clips_per_speaker: int, split_speakers: dict[str, int],
                     seed: int, size: int = 160) -> None:
    """Write the corpus to `root` (built beside it and renamed into place when complete)."""
    from skimage.data import astronaut

    require_programs()
    root = Path(root)
    rng = np.random.default_rng(seed)
    cast = make_speakers(speakers, split_speakers, rng)
    building = root.with_name(root.name + ".tmp")
    shutil.rmtree(building, ignore_errors=True)
    photo = astronaut()
    lists: dict[str, list[str]] = {split: [] for split in split_speakers}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        for speaker in cast:
            face = speaker_face(photo, speaker)
            folder = building / "mvlrs_v1" / "main" / speaker.video_id
            folder.mkdir(parents=True)
            for clip in range(1, clips_per_speaker + 1):
                text, audio = sentence_audio(speaker, rng, workdir)
                openness, width = mouth_controls(audio)
                frames = render_frames(face, speaker, openness, width, size, rng)
                write_clip(folder / f"{clip:05d}.mp4", frames, audio, workdir)
                (folder / f"{clip:05d}.txt").write_text(f"Text:  {text.upper()}\n")
                lists[speaker.split].append(f"{speaker.video_id}/{clip:05d}")
            rows.append({"video_id": speaker.video_id, "voice": speaker.voice, "pitch": speaker.pitch,
                         "speed": speaker.speed, "split": speaker.split, "face": speaker.face_description()})
    for split, names in lists.items():
        (building / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    with open(building / "speakers.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if root.exists():
        shutil.rmtree(root)
    os.replace(building, root)
