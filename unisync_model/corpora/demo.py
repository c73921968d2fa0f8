"""The embedded demo corpus: synthetic speakers with real synthetic speech and a real face whose mouth
moves with that speech, laid out exactly like LRS2, made with no network.

    <root>/mvlrs_v1/main/<video_id>/<clip>.mp4   (and <clip>.txt, LRS2's transcript file)
    <root>/train.txt, val.txt, test.txt           one `<video_id>/<clip>` a line
    <root>/speakers.csv                           how each speaker was made

Each `<video_id>` (demo_spk00, demo_spk01, ...) is one synthetic speaker, and the splits are by speaker.

Speech comes from espeak-ng: a different voice (language, accent, variant), pitch and speed per speaker,
and random sentences from a word list of the voice's language. The face is the astronaut photo that ships
with scikit-image, varied per speaker (mirror, hue, saturation, brightness, background tint, scale,
rotation, position). For video frame i, the audio samples [i*640, (i+1)*640) decide the mouth: their
loudness opens the jaw (a smooth downward warp of the lower face, the gap between the lips filled with a
dark mouth interior) and their spectral centroid widens or narrows the mouth. Head sway and sensor noise
are independent of the speech, so the mouth is the only synchronisation cue.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from unisync_model.io.optional import require
from unisync_model.settings import FPS, SAMPLE_RATE

SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640: the audio of one video frame
MIN_SECONDS = 2.0
MAX_SECONDS = 5.0
# Long sentences are cut at a quiet point no later than this, so that the container (whose AAC track
# carries an extra encoder frame of padding) still reports at most MAX_SECONDS.
CUT_BEFORE_SECONDS = 4.8
SPLITS = ("train", "val", "test")
DEFAULT_SPLIT_SPEAKERS = {"train": 6, "val": 1, "test": 1}
SPEAKERS_CSV = "speakers.csv"

# ---------------------------------------------------------------- the photo
# skimage.data.astronaut() is 512 x 512 RGB (Eileen Collins, smiling with her upper teeth showing).
# Measured by eye on 6x-magnified crops with a 5-px grid, cross-checked with YuNet (face box x 178-268,
# y 63-176; mouth-corner keypoints (198.6, 142.8) and (239.7, 143.6)):
#   - the lips span x 202-245 (centre x 223, half width 21.5); the corners sit at y ~142;
#   - the upper teeth run y 142-149 and the lower lip y 149-155, so the line between the lips (the lower
#     edge of the upper teeth) is at y ~149 in the middle and curves up to y ~142 at the corners;
#   - the chin's lowest point is at y ~177 (the black collar starts at y ~185); the hair top is at y ~17.
MOUTH_X = 223.0
LIP_LINE_Y = 149.0
MOUTH_CORNER_Y = 142.0
MOUTH_HALF_WIDTH = 21.5
CHIN_Y = 177.0
HEAD_CENTRE = (222.0, 112.0)  # middle of hair top to chin, and of the face box across
FACE_BOX_HEIGHT = 113.0  # YuNet's box height: the crop is sized so the face fills ~55-70 % of the frame
FACE_FRACTION = 0.61  # face box height / frame side at scale 1
JAW_DROP = 0.35 * 2 * MOUTH_HALF_WIDTH  # jaw drop at full openness (photo pixels)
SUPERSAMPLE = 2  # frames are drawn at 2x and downscaled (INTER_AREA): smooth edges, no aliasing

# ---------------------------------------------------------------- voices and words
# (espeak-ng voice, word list)
VOICES = [
    ("en-us", "en"), ("en-gb", "en"), ("en-gb-scotland", "en"), ("en-gb-x-rp", "en"), ("en-us-nyc", "en"),
    ("en-029", "en"), ("de", "de"), ("fr-fr", "fr"), ("es", "es"), ("it", "it"), ("pt", "pt"), ("nl", "nl"),
    ("pl", "pl"), ("sv", "sv"), ("cs", "cs"), ("fi", "fi"), ("da", "da"), ("ro", "ro"),
]
VARIANTS = ["", "+f1", "+f2", "+f3", "+f4", "+f5", "+m1", "+m3"]
WORDS = {
    "en": "apple river window garden yellow morning people silver number better simple open paper music water "
          "table little mountain summer bottle pocket mirror station market thunder island lemon kitchen forest "
          "candle pillow hammer jacket basket doctor orange tiger violet button castle dinner feather meadow "
          "rocket tunnel valley whisper again about under before after always maybe never",
    "de": "apfel wasser garten morgen abend sommer winter fenster blume vogel fluss berg stadt haus strasse "
          "tisch stuhl lampe schule freund heute gestern immer wieder langsam schnell gross klein warm kalt "
          "hund katze brot milch zucker himmel sonne regen wolke",
    "fr": "pomme maison jardin matin soleil riviere fenetre bonjour toujours demain hier petit grand rouge "
          "bleu vert chanson musique voiture chemin montagne village fromage chocolat oiseau fleur nuage pluie "
          "lune etoile livre table chaise porte ville ami",
    "es": "manzana casa jardin manana noche sol luna rio ventana camino montana ciudad pueblo amigo familia "
          "musica cancion libro mesa silla puerta verde rojo azul grande pequeno siempre nunca ahora despues "
          "agua fuego tierra cielo flor",
    "it": "mela casa giardino mattina sera sole luna fiume finestra strada montagna citta paese amico famiglia "
          "musica canzone libro tavolo sedia porta verde rosso azzurro grande piccolo sempre mai adesso dopo "
          "acqua fuoco terra cielo fiore",
    "pt": "maca casa jardim manha noite sol lua rio janela caminho montanha cidade amigo familia musica cancao "
          "livro mesa cadeira porta verde vermelho azul grande pequeno sempre nunca agora depois agua fogo "
          "terra ceu flor",
    "nl": "appel huis tuin morgen avond zomer winter raam bloem vogel rivier berg stad straat tafel stoel lamp "
          "school vriend vandaag gisteren altijd weer langzaam snel groot klein warm koud hond kat brood melk "
          "hemel zon regen",
    "pl": "jablko dom ogrod rano wieczor lato zima okno kwiat ptak rzeka gora miasto ulica stol krzeslo lampa "
          "szkola przyjaciel dzisiaj wczoraj zawsze znowu wolno szybko duzy maly cieply zimny pies kot chleb "
          "mleko niebo slonce deszcz",
    "sv": "apple hus tradgard morgon kvall sommar vinter fonster blomma fagel flod berg stad gata bord stol "
          "lampa skola van idag igar alltid igen sakta snabbt stor liten varm kall hund katt brod mjolk himmel "
          "sol regn",
    "cs": "jablko dum zahrada rano vecer leto zima okno kvetina ptak reka hora mesto ulice stul zidle lampa "
          "skola pritel dnes vcera vzdy znovu pomalu rychle velky maly teply studeny pes kocka chleba mleko "
          "nebe slunce dest",
    "fi": "omena talo puutarha aamu ilta kesa talvi ikkuna kukka lintu joki vuori kaupunki katu poyta tuoli "
          "lamppu koulu ystava tanaan eilen aina taas hitaasti nopeasti suuri pieni lammin kylma koira kissa "
          "leipa maito taivas aurinko sade",
    "da": "aeble hus have morgen aften sommer vinter vindue blomst fugl flod bjerg by gade bord stol lampe "
          "skole ven idag igar altid igen langsomt hurtigt stor lille varm kold hund kat brod maelk himmel sol "
          "regn",
    "ro": "mar casa gradina dimineata seara vara iarna fereastra floare pasare rau munte oras strada masa "
          "scaun lampa scoala prieten astazi ieri mereu iarasi incet repede mare mic cald rece caine pisica "
          "paine lapte cer soare ploaie",
}


@dataclass(frozen=True)
class Speaker:
    video_id: str
    split: str
    voice: str  # espeak-ng voice with variant, e.g. "de+f3"
    language: str
    pitch: int  # espeak-ng -p, 0-99
    speed: int  # espeak-ng -s, words per minute
    mirror: bool
    hue: int  # OpenCV hue shift (hue is 0-179)
    saturation: float
    brightness: float
    background: tuple[int, int, int]  # RGB tint of the backdrop
    background_strength: float
    scale: float  # >1: the face fills more of the frame
    rotation: float  # degrees, counter-clockwise
    shift: tuple[float, float]  # crop centre offset, as a fraction of the crop side

    def face_description(self) -> str:
        return (f"mirror={'yes' if self.mirror else 'no'} hue{self.hue:+d} saturation x{self.saturation:.2f} "
                f"brightness x{self.brightness:.2f} backdrop rgb{self.background} ({self.background_strength:.0%}) "
                f"scale x{self.scale:.2f} rotation {self.rotation:+.1f} deg "
                f"shift ({self.shift[0]:+.3f}, {self.shift[1]:+.3f})")


# ---------------------------------------------------------------- checks and the cast

def require_programs() -> None:
    """Raise RuntimeError naming the missing program (and its apt package) if espeak-ng or ffmpeg is absent."""
    for program, package in (("espeak-ng", "espeak-ng"), ("ffmpeg", "ffmpeg")):
        if shutil.which(program) is None:
            raise RuntimeError(f"the demo corpus needs the `{program}` program, which is not on PATH: "
                               f"install it with `apt-get install {package}`")


def check_split_speakers(speakers: int, split_speakers: dict[str, int]) -> None:
    unknown = sorted(set(split_speakers) - set(SPLITS))
    if unknown:
        raise ValueError(f"split_speakers has unknown splits {unknown}; the splits are {list(SPLITS)}")
    if any(int(n) != n or n < 0 for n in split_speakers.values()):
        raise ValueError(f"split_speakers {split_speakers} must give a whole, non-negative number of speakers")
    total = sum(split_speakers.values())
    if total != speakers:
        raise ValueError(f"split_speakers {split_speakers} add up to {total} speakers, not to the "
                         f"{speakers} speakers asked for")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2 ** 63, *keys])


def make_speakers(count: int, split_speakers: dict[str, int], seed: int) -> list[Speaker]:
    """The cast: demo_spk00, 01, ... assigned to train, then val, then test, each with its own voice and face."""
    check_split_speakers(count, split_speakers)
    splits = [split for split in SPLITS for _ in range(split_speakers.get(split, 0))]
    rng = _rng(seed, 0)
    voices = [VOICES[i] for i in rng.permutation(len(VOICES))]
    variants = [VARIANTS[i] for i in rng.permutation(len(VARIANTS))]
    cast = []
    for k in range(count):
        voice, language = voices[k % len(voices)]
        r = _rng(seed, 1, k)
        tint = cv2.cvtColor(np.uint8([[[r.integers(0, 180), r.integers(60, 200), r.integers(150, 230)]]]),
                            cv2.COLOR_HSV2RGB)[0, 0]
        cast.append(Speaker(
            video_id=f"demo_spk{k:02d}", split=splits[k], voice=voice + variants[k % len(variants)],
            language=language, pitch=int(r.integers(20, 81)), speed=int(r.integers(140, 191)),
            mirror=bool(r.integers(0, 2)),
            hue=int(r.integers(-3, 4)), saturation=float(r.uniform(0.75, 1.25)),
            brightness=float(r.uniform(0.82, 1.12)), background=tuple(int(c) for c in tint),
            background_strength=float(r.uniform(0.35, 0.8)), scale=float(r.uniform(0.9, 1.15)),
            rotation=float(r.uniform(-6, 6)), shift=(float(r.uniform(-0.05, 0.05)), float(r.uniform(-0.04, 0.04)))))
    return cast


# ---------------------------------------------------------------- speech

def speak(text: str, speaker: Speaker, workdir: Path) -> np.ndarray:
    """espeak-ng's rendering of `text` as 16 kHz mono float32, with the silence at both ends trimmed."""
    import librosa
    import soundfile

    wav = workdir / "speech.wav"
    subprocess.run(["espeak-ng", "-v", speaker.voice, "-p", str(speaker.pitch), "-s", str(speaker.speed),
                    "-w", str(wav), "--stdin"], input=text.encode(), check=True, capture_output=True)
    audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE)
    audio, _ = librosa.effects.trim(audio, top_db=40, frame_length=512, hop_length=128)
    return audio.astype(np.float32)


def sentence_audio(speaker: Speaker, rng: np.random.Generator, workdir: Path) -> tuple[str, np.ndarray]:
    """A random sentence in the speaker's language and voice: 16 kHz audio of whole video frames, 2-5 s.

    Words are added until the trimmed speech lasts 2 s; past CUT_BEFORE_SECONDS it is cut at the quietest
    frame boundary of the preceding 1.2 s (with a 10 ms fade)."""
    vocabulary = WORDS[speaker.language].split()
    words = [str(w) for w in rng.choice(vocabulary, size=int(rng.integers(5, 13)))]
    for _ in range(20):
        text = " ".join(words)
        audio = speak(text, speaker, workdir)
        if len(audio) >= MIN_SECONDS * SAMPLE_RATE:
            break
        words += [str(w) for w in rng.choice(vocabulary, size=3)]
    else:
        raise RuntimeError(f"espeak-ng gave less than {MIN_SECONDS} s of speech for {speaker.voice!r}")
    audio = 0.89 * audio / max(float(np.abs(audio).max()), 1e-6)
    last = int(CUT_BEFORE_SECONDS * FPS)  # the last allowed frame boundary
    if len(audio) > last * SAMPLES_PER_FRAME:
        boundaries = np.arange(last - int(1.2 * FPS), last + 1) * SAMPLES_PER_FRAME
        half = SAMPLES_PER_FRAME // 4
        energy = [float(np.mean(audio[b - half: b + half] ** 2)) for b in boundaries]
        cut = int(boundaries[int(np.argmin(energy))])
        audio = audio[:cut].copy()
        fade = SAMPLE_RATE // 100
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    else:
        audio = np.pad(audio, (0, -len(audio) % SAMPLES_PER_FRAME))
    return text, audio


def frame_loudness(audio: np.ndarray) -> np.ndarray:
    """Per video frame (640 samples at 16 kHz), the RMS level in dB (1.0 full scale = 0 dB)."""
    frames = np.asarray(audio, np.float64)[: len(audio) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME]
    frames = frames.reshape(-1, SAMPLES_PER_FRAME)
    return 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-9)


def mouth_controls(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per video frame: openness in [0, 1] from the loudness of that frame's audio (a 30 dB range below the
    clip's loudest frame, silence 0), and a width factor in [0.85, 1.15] from its spectral centroid
    (bright sounds such as /i/ and /s/ spread the lips, dark ones such as /o/ and /u/ round them)."""
    db = frame_loudness(audio)
    loudest = float(db.max())
    openness = np.clip((db - (loudest - 30.0)) / 30.0, 0.0, 1.0) ** 1.2
    # a light zero-phase smoothing: the mouth at frame i still reflects frame i's audio, without lag
    padded = np.pad(openness, 1, mode="edge")
    openness = 0.7 * openness + 0.15 * (padded[:-2] + padded[2:])
    frames = np.asarray(audio, np.float64)[: len(db) * SAMPLES_PER_FRAME].reshape(-1, SAMPLES_PER_FRAME)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(SAMPLES_PER_FRAME), axis=1)) ** 2
    freqs = np.fft.rfftfreq(SAMPLES_PER_FRAME, 1 / SAMPLE_RATE)
    band = (freqs >= 100) & (freqs <= 7000)
    centroid = (spectrum[:, band] * freqs[band]).sum(axis=1) / (spectrum[:, band].sum(axis=1) + 1e-12)
    brightness = np.clip(np.log(np.maximum(centroid, 1.0) / 500.0) / np.log(4000.0 / 500.0), 0.0, 1.0)
    width = 0.85 + 0.3 * brightness
    width = 1.0 + (width - 1.0) * np.clip(openness * 3.0, 0.0, 1.0)  # a silent mouth is at rest
    return openness.astype(np.float32), width.astype(np.float32)


# ---------------------------------------------------------------- face

@lru_cache(maxsize=1)
def _photo() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo (RGB uint8) and a soft mask of its backdrop (float32 in [0, 1])."""
    astronaut = require("skimage.data").astronaut

    photo = np.ascontiguousarray(astronaut())
    hsv = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)
    raw = ((hsv[..., 1] < 50) & (hsv[..., 2] > 120)).astype(np.uint8)  # the backdrop is pale and grey
    face = np.zeros_like(raw)
    cv2.ellipse(face, (222, 112), (46, 74), 0, 0, 360, 1, -1)  # keep teeth and highlights of the face
    raw[face > 0] = 0
    raw = cv2.morphologyEx(raw, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(raw)
    mask = np.zeros_like(raw)
    for i in range(1, count):  # the backdrop reaches the top edge; the helmet's highlights do not
        if stats[i, cv2.CC_STAT_TOP] == 0 and stats[i, cv2.CC_STAT_AREA] > 2000:
            mask[labels == i] = 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    return photo, cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2.0)


def speaker_photo(speaker: Speaker) -> np.ndarray:
    """The photo in the speaker's colours: tinted backdrop, then hue, saturation and brightness."""
    photo, mask = _photo()
    image = photo.astype(np.float32)
    luma = image @ np.float32([0.299, 0.587, 0.114])
    tinted = np.float32(speaker.background)[None, None] * (luma / 200.0)[..., None]
    alpha = (speaker.background_strength * mask)[..., None]
    image = image * (1 - alpha) + tinted * alpha
    hsv = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + speaker.hue) % 180
    hsv[..., 1] *= speaker.saturation
    hsv[..., 2] *= speaker.brightness
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


def _affine(a: np.ndarray) -> np.ndarray:
    return np.vstack([a, [0.0, 0.0, 1.0]])


def speaker_matrix(speaker: Speaker, side: int) -> np.ndarray:
    """3x3 map from photo pixels to the speaker's (side x side) frame: crop, scale, rotation, mirror."""
    crop = FACE_BOX_HEIGHT / FACE_FRACTION / speaker.scale  # photo pixels across the frame
    centre = (HEAD_CENTRE[0] + speaker.shift[0] * crop, HEAD_CENTRE[1] + speaker.shift[1] * crop)
    matrix = _affine(cv2.getRotationMatrix2D(centre, speaker.rotation, side / crop))
    matrix[0, 2] += side / 2 - centre[0]
    matrix[1, 2] += side / 2 - centre[1]
    if speaker.mirror:
        matrix = np.array([[-1.0, 0, side], [0, 1, 0], [0, 0, 1]]) @ matrix
    return matrix


def mouth_box(speaker: Speaker, size: int) -> tuple[float, float, float]:
    """Where the mouth is in the speaker's size x size frames at rest: (centre x, centre y, width) in pixels."""
    matrix = speaker_matrix(speaker, size)
    x, y, _ = matrix @ [MOUTH_X, (MOUTH_CORNER_Y + LIP_LINE_Y + 6) / 2, 1.0]
    return float(x), float(y), float(2 * MOUTH_HALF_WIDTH * np.hypot(*matrix[0, :2]))


class FaceRenderer:
    """Draws one speaker's frames: the photo warped per frame by head sway and by the mouth's openness/width."""

    def __init__(self, speaker: Speaker, size: int):
        self.size = size
        self.side = side = size * SUPERSAMPLE
        self.matrix = speaker_matrix(speaker, side)  # photo -> frame
        self.base = cv2.warpAffine(speaker_photo(speaker), self.matrix[:2], (side, side), flags=cv2.INTER_AREA,
                                   borderMode=cv2.BORDER_REFLECT_101)
        self.brightness = speaker.brightness
        ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
        self.xs, self.ys = xs, ys
        # the frame region the mouth's warp can reach, whatever the sway: the photo's lower face
        corners = np.array([[MOUTH_X + s * 2.6 * MOUTH_HALF_WIDTH, y, 1.0]
                            for s in (-1, 1) for y in (MOUTH_CORNER_Y - 12, CHIN_Y + 30)])
        points = corners @ self.matrix[:2].T
        margin = 0.04 * side
        x0, y0 = np.floor(points.min(axis=0) - margin).astype(int)
        x1, y1 = np.ceil(points.max(axis=0) + margin).astype(int)
        self.roi = (slice(max(y0, 0), min(y1, side)), slice(max(x0, 0), min(x1, side)))

    def sway(self, t: float, phases: np.ndarray) -> np.ndarray:
        """3x3 map from output pixels to base-frame pixels: a slow sway independent of the speech."""
        side = self.side
        wave = np.sin(2 * np.pi * np.array([0.21, 0.33, 0.27, 0.9]) * t + phases)  # slow, unrelated to speech
        angle = 0.8 * wave[0]  # degrees
        dx = side * (0.012 * wave[1] + 0.004 * wave[3])  # about 2 px at 160 px
        dy = side * 0.009 * wave[2]
        matrix = _affine(cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0))
        matrix[0, 2] += dx
        matrix[1, 2] += dy
        return matrix

    def render(self, openness: float, width: float, sway: np.ndarray) -> np.ndarray:
        """One frame (size x size RGB uint8, before noise)."""
        r = self.roi
        linear = sway[:2].tolist()
        map_x = linear[0][0] * self.xs + linear[0][1] * self.ys + linear[0][2]
        map_y = linear[1][0] * self.xs + linear[1][1] * self.ys + linear[1][2]
        # photo coordinates of the mouth region's output pixels
        to_photo = (np.linalg.inv(self.matrix) @ sway).tolist()
        px = to_photo[0][0] * self.xs[r] + to_photo[0][1] * self.ys[r] + to_photo[0][2]
        py = to_photo[1][0] * self.xs[r] + to_photo[1][1] * self.ys[r] + to_photo[1][2]

        half = MOUTH_HALF_WIDTH * width
        u = (px - MOUTH_X) / half
        lip = LIP_LINE_Y - (LIP_LINE_Y - MOUTH_CORNER_Y) * np.minimum(u * u, 1.0)
        below = py - lip  # > 0 under the line between the lips
        # jaw drop: full under the lips, 0.8 at the chin, fading out over the neck; across, it spans the
        # mouth at the lips and widens towards the chin (the whole jaw moves; the cheeks stretch)
        depth = np.clip(below / (CHIN_Y - LIP_LINE_Y), 0.0, None)
        down = np.where(depth <= 1.0, 1.0 - 0.2 * depth, 0.8 * np.clip(1.0 - (py - CHIN_Y) / 22.0, 0.0, 1.0))
        reach = half * (1.0 + 0.8 * np.clip(depth, 0.0, 1.0))
        across = np.clip(1.0 - ((px - MOUTH_X) / reach) ** 2, 0.0, 1.0) ** 0.7
        drop = np.where(below > 0, JAW_DROP * openness * across * down, 0.0)
        # the lips stretch or round about the mouth's centre
        window = np.exp(-0.5 * ((px - MOUTH_X) / (1.6 * MOUTH_HALF_WIDTH)) ** 2
                        - 0.5 * ((py - LIP_LINE_Y) / 10.0) ** 2)
        shift_x = (px - MOUTH_X) * (1.0 / width - 1.0) * window
        # backward map: the output pixel shows the photo at (px + shift_x, py - drop)
        a = self.matrix[:2, :2].tolist()
        map_x[r] += (a[0][0] * shift_x - a[0][1] * drop).astype(np.float32)
        map_y[r] += (a[1][0] * shift_x - a[1][1] * drop).astype(np.float32)
        image = cv2.remap(self.base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

        # the gap between the lips: under the lip line, where the map reaches back above it
        gap = np.minimum(below, drop - below)  # distance (photo pixels) inside the gap
        alpha = np.clip(gap / 1.2, 0.0, 1.0)
        if alpha.max() > 0:
            t = np.clip(below / np.maximum(drop, 1e-3), 0.0, 1.0)  # 0 at the upper teeth, 1 at the lower lip
            side_fade = np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0))
            cavity = (np.sin(np.pi * t) * side_fade)[..., None]
            colour = (np.float32([105, 38, 42]) * (1 - cavity) + np.float32([22, 5, 8]) * cavity)
            tongue = (np.clip((t - 0.55) / 0.3, 0.0, 1.0) * side_fade * np.clip(drop / 8.0, 0.0, 1.0))[..., None]
            colour = colour * (1 - 0.6 * tongue) + np.float32([135, 55, 62]) * 0.6 * tongue
            teeth = (np.clip((below - (drop - 2.2)) / 0.8, 0.0, 1.0) * np.clip((drop - 6.0) / 3.0, 0.0, 1.0)
                     * np.clip((0.65 - np.abs(u)) / 0.15, 0.0, 1.0))[..., None]
            colour = colour * (1 - teeth) + np.float32([205, 200, 188]) * teeth
            colour *= self.brightness
            region = image[r].astype(np.float32)
            image[r] = np.clip(region * (1 - alpha[..., None]) + colour * alpha[..., None], 0, 255).astype(np.uint8)
        return cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)


def render_frames(renderer: FaceRenderer, openness: np.ndarray, width: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """All frames of a clip (N x size x size x 3 RGB uint8), with head sway and mild sensor noise."""
    phases = rng.uniform(0, 2 * np.pi, 4)
    frames = np.empty((len(openness), renderer.size, renderer.size, 3), np.uint8)
    for i, (o, w) in enumerate(zip(openness, width)):
        image = renderer.render(float(o), float(w), renderer.sway(i / FPS, phases))
        noise = rng.standard_normal(image.shape, dtype=np.float32) * 1.8
        frames[i] = np.clip(image + noise, 0, 255).astype(np.uint8)
    return frames


# ---------------------------------------------------------------- clips and the corpus

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
    result = subprocess.run(command, input=frames.tobytes(), capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {path}: {result.stderr.decode(errors='replace').strip()}")


def _make_clip(speaker: Speaker, renderer: FaceRenderer, speaker_index: int, clip: int, seed: int,
               folder: Path, scratch: Path) -> None:
    rng = _rng(seed, 2, speaker_index, clip)
    workdir = scratch / f"{speaker.video_id}_{clip:05d}"
    workdir.mkdir()
    text, audio = sentence_audio(speaker, rng, workdir)
    openness, width = mouth_controls(audio)
    frames = render_frames(renderer, openness, width, rng)
    write_clip(folder / f"{clip:05d}.mp4", frames, audio, workdir)
    (folder / f"{clip:05d}.txt").write_text(f"Text:  {text.upper()}\n", encoding="utf-8")
    shutil.rmtree(workdir, ignore_errors=True)


def make_demo_corpus(root: Path, *, speakers: int, clips_per_speaker: int, split_speakers: dict[str, int],
                     seed: int, size: int = 160) -> None:
    """Generate the demo corpus at `root`, laid out like LRS2, with splits by speaker.

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
    rng = _rng(seed, 2, 0, 1)
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
