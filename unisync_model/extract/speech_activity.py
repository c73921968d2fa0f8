"""Where there is speech: silero-vad's probability per 25 fps video frame, from 16 kHz mono samples.

The model is the ONNX file inside the silero-vad wheel (nothing is downloaded), run with onnxruntime.
The package's own wrappers import torch (and its JIT model needs it): measured on a 33.6 s clip, torch's
import costs 1.7 s and ~700 MB per scoring process and the JIT model 17 ms per second of audio, while
this ONNX session gives the same probabilities (1e-6) in 4 ms per second with no torch. So the package is
used for its model file only, and this module feeds it as the package's ONNX wrapper does: 512-sample
chunks, each preceded by the previous chunk's last 64 samples, the recurrent state carried along.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.io.optional import require
from unisync_model.settings import SAMPLE_RATE

CHUNK = 512  # samples per model call at 16 kHz (the model's only chunk size there)
CONTEXT = 64  # samples of the previous chunk that precede each one
MODEL_FILE = "silero_vad.onnx"


def model_path() -> Path:
    """The ONNX model inside the installed silero-vad package, found without importing the package
    (its __init__ imports torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        require("silero_vad")  # raises MissingDependency, naming the extra to install
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"silero-vad is installed but has no {path}: reinstall it (pip install silero-vad)")
    return path


class SpeechActivity:
    """silero-vad over a whole clip: `frame_probabilities(samples, frames)`. One onnxruntime thread; the
    session is made on first use and not pickled (each --jobs worker makes its own)."""

    def __init__(self):
        self._session = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_session": None}

    def _run(self):
        if self._session is None:
            ort = require("onnxruntime")
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])
        return self._session.run

    def chunk_probabilities(self, samples: np.ndarray) -> np.ndarray:
        """The speech probability of each whole 512-sample chunk (the last partial chunk is dropped)."""
        x = np.asarray(samples, np.float32)
        chunks = len(x) // CHUNK
        run = self._run()
        state = np.zeros((2, 1, 128), np.float32)
        rate = np.array(SAMPLE_RATE, np.int64)
        padded = np.concatenate([np.zeros(CONTEXT, np.float32), x[:chunks * CHUNK]])
        out = np.empty(chunks, np.float32)
        for k in range(chunks):
            piece = padded[k * CHUNK:(k + 1) * CHUNK + CONTEXT][None]
            prob, state = run(None, {"input": piece, "state": state, "sr": rate})
            out[k] = prob[0, 0]
        return out

    def frame_probabilities(self, samples: np.ndarray, frames: int) -> np.ndarray:
        """Per video frame (640 samples): the probability of the chunk that holds the frame's centre;
        0 where the samples end before the frame does."""
        probs = self.chunk_probabilities(samples)
        out = np.zeros(frames, np.float32)
        centre = (np.arange(frames) * SAMPLES_PER_FRAME + SAMPLES_PER_FRAME // 2) // CHUNK
        inside = centre < len(probs)
        out[inside] = probs[centre[inside]]
        return out
