"""The demo speakers' speech: random sentences from a word list of the voice's language, spoken by
espeak-ng and cut to 2-5 s of whole video frames; and the mouth's openness and width per video frame,
from the loudness and the spectral centroid of that frame's audio."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from unisync_model.corpora.demo.cast import Speaker
from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.settings import FPS, SAMPLE_RATE

MIN_SECONDS = 2.0
MAX_SECONDS = 5.0
# Long sentences are cut at a quiet point no later than this, so that the container (whose AAC track
# carries an extra encoder frame of padding) still reports at most MAX_SECONDS.
CUT_BEFORE_SECONDS = 4.8

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

