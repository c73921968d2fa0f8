"""Optional dependencies: the libraries only some stages need, installed through pip extras (and the
matching conda environments under envs/). `require` imports one and, when it is missing, says which
extra brings it, instead of a bare ModuleNotFoundError deep inside a stage."""
from __future__ import annotations

import importlib
from types import ModuleType

DISTRIBUTION = "unisync-lipsync"  # the name on PyPI ("unisync" there is another project)

# module → (pip extra, what needs it); the extras are defined in pyproject.toml
EXTRAS = {
    "dlib": ("landmarks", "the dlib landmarks backend and the training-free scorer"),
    "face_alignment": ("fan", "the fan landmarks backend"),
    "facexlib": ("parsing", "the facexlib parsing backend"),
    "transformers": ("hubert", "the hubert stage"),
    "python_speech_features": ("syncnet", "the original SyncNet's MFCC input"),
    "scenedetect": ("syncnet", "syncnet_python's face-track protocol (its shots)"),
    "skimage": ("demo", "the demo corpus (its face photo)"),
    "silero_vad": ("vad", "speech gating (silero-vad's model)"),
    "onnxruntime": ("vad", "speech gating (runs silero-vad's model)"),
}


class MissingDependency(ImportError):
    pass


def require(module: str) -> ModuleType:
    """`importlib.import_module(module)`, or a MissingDependency naming the extra that installs it."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] != top or top not in EXTRAS:
            raise  # something else is missing: not ours to explain
        extra, needed_by = EXTRAS[top]
        raise MissingDependency(f"{needed_by} needs {top!r}, which is not installed: pip install '{DISTRIBUTION}[{extra}]' "
                                f"(from a clone: pip install -e '.[{extra}]'; or run the workflow with --use-conda, "
                                f"whose envs/ bring it)") from error
