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

The parts: cast.py (the speakers and their splits), voices.py (speech and the mouth controls it gives),
face.py (the animated face), corpus.py (clips on disk and the corpus's layout).
"""
from __future__ import annotations

from unisync_model.corpora.demo.cast import DEFAULT_SPLIT_SPEAKERS, SPLITS, Speaker, make_speakers
from unisync_model.corpora.demo.corpus import SPEAKERS_CSV, make_demo_clip, make_demo_corpus, read_speakers

__all__ = ["DEFAULT_SPLIT_SPEAKERS", "SPEAKERS_CSV", "SPLITS", "Speaker", "make_demo_clip", "make_demo_corpus",
           "make_speakers", "read_speakers"]
