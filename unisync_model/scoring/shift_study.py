"""The audio-shift study: does shifting a clip's audio by k frames move the reported offset by k?

For each video, the expensive part (probe, audio, the speaking face's track, the scorer's visual
arrays: landmarks, mouth crops, …) is computed once (`videos.VideoLoader`); the audio is then shifted
**in memory** by k × 640 samples at 16 kHz (k > 0: delayed, zeros in front and the end cropped; k < 0:
advanced, the start cropped and zeros at the end, so the length never changes), the audio-derived
arrays (Mel, HuBERT) are recomputed from the shifted samples, and the clip is scored again
(`results.score_clip`). Shifting samples is exact (no re-encoding, no container timestamps to trust)
and costs one scoring per shift instead of one decode.

Sign (results.CONVENTION, syncnet_python's): delaying the audio by k frames moves the reported
offset by −k, so a trial is a **hit** when the shifted offset is within ±`tolerance` (1) frame of
base − k, base being the clip's own offset with its audio untouched. The study is relative: nobody
verified the clips' own sync, so a clip whose base offset is off is still a hit if it moves by k.

Each video gets a category from the notes of a clip manifest (`clip_categories`; the shared clips'
manifest.csv has `file`, `duration_s` and `notes`) so the table can tell frontal speaking clips
from music, miming, cutaways, head turns and very short clips. Outputs (`write_outputs`): trials.csv
(TRIAL_COLUMNS, one row per clip × shift) and table.md (a row per clip with its hits out of the
shifts, and summary lines over all trials and over frontal speaking clips), both written atomically.
"""
from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from unisync_model.io.atomic_files import write_atomic
from unisync_model.io.progress import progress
from unisync_model.model.lse import VSHIFT
from unisync_model.scoring.inputs import expand_inputs
from unisync_model.scoring.results import score_clip
from unisync_model.io.av_timing import SAMPLES_PER_FRAME
from unisync_model.scoring.scorers import ClipData, NoScore, Scorer
from unisync_model.scoring.videos import VideoLoader
from unisync_model.settings import FPS, ScoreSettings

log = logging.getLogger(__name__)

SHIFTS = (-10, -5, 5, 10)  # frames the audio is delayed by (negative: advanced)
TOLERANCE = 1  # frames: a hit is within this of base − k
AUDIO_STAGES = ("mel", "hubert")  # arrays computed from the samples: recomputed after every shift
SHIFT_METHOD = "in memory: the decoded 16 kHz samples moved by k × 640, zero-padded and cropped to the same length"

FRONTAL = "frontal speaking"
# (category, pattern over the lower-cased notes), first match wins; what matches none is frontal speaking
CATEGORY_RULES = (
    ("music / singing", r"\bmusic\b|singing|\bsong\b"),
    ("uncertain sync", r"miming|voice-over|sync uncertain|unreliable sync"),
    ("multi-face / cutaways", r"multiple faces|cutaway|multi-panel|two faces"),
    ("head turns", r"head turn|profile|non-frontal|three-quarter"),
    ("short", r"very short"),
)
SHORT_SECONDS = 2.0  # a clip shorter than this is "short" whatever its notes say
UNKNOWN = "unknown"  # a video the notes do not list

TRIAL_COLUMNS = [
    "clip_id", "video", "category", "scorer",
    "shift_frames",  # k: the audio delayed by k frames (negative: advanced)
    "base_offset",  # the reported offset with the audio untouched (results.py's sign)
    "offset",  # the reported offset with the audio shifted by k
    "expected",  # base_offset − k
    "error",  # offset − expected, frames
    "hit",  # |error| ≤ tolerance
    "confidence",  # LSE-C of the shifted clip
    "base_confidence",  # LSE-C with the audio untouched
    "base_verdict",  # the unshifted answer: in sync, out of sync, uncertain (results.verdict)
    "status",  # ok, or "no score"
    "reason",  # why there is no score
]


def category_of(notes: str, duration_s: float | None = None) -> str:
    """A clip's category from its manifest notes (CATEGORY_RULES), or "short" under SHORT_SECONDS.
    Only the notes before the transcript ("whisper-base: …") count: what is said ("I did the song")
    says nothing about the clip."""
    text = re.split(r"whisper", str(notes or "").lower(), maxsplit=1)[0]
    for category, pattern in CATEGORY_RULES:
        if re.search(pattern, text):
            return category
    if duration_s is not None and np.isfinite(duration_s) and duration_s < SHORT_SECONDS:
        return "short"
    return FRONTAL


def clip_categories(manifest: str | Path) -> dict[str, str]:
    """{file stem: category} for every row of a clip manifest (columns file, notes, and duration_s
    where known)."""
    table = pd.read_csv(manifest, dtype={"notes": str})
    durations = table["duration_s"] if "duration_s" in table else pd.Series(np.nan, index=table.index)
    return {Path(f).stem: category_of(n, d) for f, n, d in zip(table["file"], table["notes"].fillna(""),
                                                              pd.to_numeric(durations, errors="coerce"))}


def parse_shifts(text: str) -> tuple[int, ...]:
    """'-10,-5,5,10' → (-10, -5, 5, 10); 0 is refused (it is the base)."""
    shifts = tuple(int(s) for s in text.split(",") if s.strip())
    if not shifts or 0 in shifts:
        raise ValueError(f"shifts must be non-zero frame counts, e.g. -10,-5,5,10 (got {text!r})")
    return shifts


def shift_samples(samples: np.ndarray, frames: int) -> np.ndarray:
    """The audio delayed by `frames` video frames (advanced when negative), same length: zeros fill
    what moved in."""
    n = frames * SAMPLES_PER_FRAME
    out = np.zeros_like(samples)
    if abs(n) >= len(samples):
        return out  # everything moved out
    if n >= 0:
        out[n:] = samples[:len(samples) - n]
    else:
        out[:n] = samples[-n:]
    return out


def shifted_clip(clip: ClipData, frames: int, scorer: Scorer) -> ClipData:
    """A copy of the clip with its audio shifted and the scorer's audio arrays recomputed; the
    track and visual arrays are shared, not copied."""
    arrays = {k: v for k, v in clip.arrays.items() if k not in AUDIO_STAGES}
    moved = ClipData(clip.clip_id, clip.path, clip.track, shift_samples(clip.samples, frames), arrays)
    scorer.prepare(moved)  # recomputes only what is missing: the audio representation
    return moved


def first_seconds(clip: ClipData, seconds: float) -> ClipData:
    """The clip's first `seconds`: track, samples and visual arrays cut (audio arrays recomputed by
    the scorer later)."""
    frames = int(round(seconds * FPS))
    arrays = {k: v[:frames] for k, v in clip.arrays.items() if k not in AUDIO_STAGES}
    return ClipData(clip.clip_id, clip.path, clip.track[:frames], clip.samples[:frames * SAMPLES_PER_FRAME], arrays)


@dataclass
class Trial:
    clip_id: str
    video: str
    category: str
    scorer: str
    shift_frames: int
    base_offset: int | None = None
    offset: int | None = None
    expected: int | None = None
    error: int | None = None
    hit: bool = False
    confidence: float | None = None
    base_confidence: float | None = None
    base_verdict: str = ""  # the unshifted answer's verdict: in sync, out of sync, uncertain (results.verdict)
    status: str = "ok"
    reason: str = ""


def study_clip(clip: ClipData, scorer: Scorer, shifts: Iterable[int] = SHIFTS, category: str = UNKNOWN,
               settings: ScoreSettings | None = None, tolerance: int = TOLERANCE,
               video: str | None = None) -> list[Trial]:
    """One prepared clip: its base score, then a trial per shift."""
    video = video or clip.path or clip.clip_id
    base = score_clip(clip, scorer, video, settings)
    trials = []
    for k in shifts:
        trial = Trial(clip.clip_id, video, category, scorer.name, int(k))
        if not base.ok:
            trial.status, trial.reason = "no score", base.reason
            trials.append(trial)
            continue
        trial.base_offset, trial.base_confidence = base.offset, round(base.confidence, 4)
        trial.base_verdict = base.verdict
        trial.expected = base.offset - k
        result = score_clip(shifted_clip(clip, k, scorer), scorer, video, settings)
        if not result.ok:
            trial.status, trial.reason = "no score", f"shifted by {k:+d}: {result.reason}"
        else:
            trial.offset, trial.confidence = result.offset, round(result.confidence, 4)
            trial.error = result.offset - trial.expected
            trial.hit = abs(trial.error) <= tolerance
        trials.append(trial)
    return trials


def study_videos(paths: Iterable[str | Path], scorer: Scorer, settings: ScoreSettings | None = None,
                 shifts: Iterable[int] = SHIFTS, seconds: float = 0.0, categories: dict[str, str] | None = None,
                 tolerance: int = TOLERANCE) -> list[Trial]:
    """Every video named (files, folders, .txt lists, as `unisync score`); a video that cannot be
    scored gets one row per shift with the reason. `seconds` > 0 keeps each clip's first seconds."""
    settings = settings or ScoreSettings()
    shifts = tuple(shifts)
    loader = VideoLoader(scorer, settings)
    categories = categories or {}
    trials: list[Trial] = []
    for item in progress(expand_inputs(paths), desc=f"shift study ({scorer.name})", unit="video"):
        path, clip_id = item.path, item.clip_id
        category = categories.get(Path(path).stem, UNKNOWN)
        try:
            if item.reason:
                raise NoScore(item.reason)
            clip = loader(path, clip_id)
            if seconds > 0:
                clip = first_seconds(clip, seconds)
                scorer.prepare(clip)
            trials += study_clip(clip, scorer, shifts, category, settings, tolerance, str(path))
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as err:  # NoScore has its reason; anything else is named, and the study goes on
            reason = str(err) if isinstance(err, NoScore) else f"error: {type(err).__name__}: {err}"
            if not isinstance(err, NoScore):
                log.warning("%s: %s", path, reason)
            trials += [Trial(clip_id, str(path), category, scorer.name, int(k), status="no score", reason=reason)
                       for k in shifts]
    return trials


# ------------------------------------------------------------------------------------------ outputs

def trials_frame(trials: Iterable[Trial]) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(t) for t in trials], columns=TRIAL_COLUMNS)
    for column in ("base_offset", "offset", "expected", "error"):
        frame[column] = frame[column].astype("Int64")
    return frame


def beyond_search(trials: pd.DataFrame, vshift: int = VSHIFT) -> pd.Series:
    """Trials whose expected offset (base − k) lies outside the scorer's −vshift…+vshift search: they
    cannot be hits, and say that the base offset is already far from 0."""
    return (trials["expected"].abs() > vshift).fillna(False).astype(bool)


def summary(trials: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Hits over all trials and over frontal speaking clips: trials (scored or not), hits, clips,
    clips with every shift a hit, clips without a score, misses whose expected offset lies beyond
    the ±15-frame search; and the absolute check, the clips whose unshifted (base) offset is within
    ±TOLERANCE and within ±2 frames of 0 — right answers for clips their sources publish in sync, as
    the shared clips' frontal speaking ones are (a clip without a score is not counted), and those
    answered "in sync" (within ±TOLERANCE and not "uncertain")."""
    out = {}
    for name, part in (("all", trials), ("frontal", trials[trials["category"] == FRONTAL])):
        per_clip = part.groupby("clip_id", sort=False).agg(hits=("hit", "sum"), n=("hit", "size"),
                                                          base=("base_offset", "first"))
        scored = part.loc[part["status"] == "ok", "clip_id"].nunique()
        base = per_clip["base"].astype("Float64").abs()
        out[name] = {"trials": len(part), "hits": int(part["hit"].sum()), "clips": len(per_clip),
                     "clips_all_hit": int((per_clip["hits"] == per_clip["n"]).sum()),
                     "clips_unscored": len(per_clip) - scored,
                     "misses_beyond_search": int((beyond_search(part) & ~part["hit"].astype(bool)).sum()),
                     "unshifted_within_tolerance": int((base <= TOLERANCE).fillna(False).sum()),
                     "unshifted_in_sync": int(part.groupby("clip_id", sort=False)["base_verdict"].first()
                                              .eq("in sync").sum()),
                     "unshifted_within_2": int((base <= 2).fillna(False).sum())}
    return out


def _cell(row) -> str:
    if row.status != "ok":
        return "—"
    if row.hit:
        return f"{int(row.offset):+d} ✓"
    return f"{int(row.offset):+d} ✗ (exp. {int(row.expected):+d})"


def markdown_table(trials: pd.DataFrame, title: str = "", description: str = "") -> str:
    """A row per clip: category, base offset (confidence), the shifted offset per shift (✓ within
    tolerance of base − k), hits out of the shifts, or the reason; then the summary lines."""
    shifts = sorted(trials["shift_frames"].unique(), key=int)
    lines = [f"### {title}", ""] if title else []
    if description:
        lines += [description, ""]
    lines += [f"Cells: the offset reported with the audio delayed by k frames (negative: advanced), ✓ when within "
              f"±{TOLERANCE} frame of base − k, else ✗ with the expected base − k (beyond ±{VSHIFT}: outside the "
              f"search, a miss whatever the scorer does); — no score.", ""]
    lines += ["| clip | category | base offset (conf) | "
              + " | ".join(f"audio {int(k):+d}" for k in shifts) + " | hits |",
              "|---|---|---|" + "---|" * len(shifts) + "---|"]
    for clip_id, part in trials.groupby("clip_id", sort=False):
        part = part.set_index("shift_frames")
        first = part.iloc[0]
        if part["base_offset"].isna().all():
            reason = str(first.reason).replace("|", "/")
            lines.append(f"| {clip_id} | {first.category} | no score: {reason} | " + " | ".join("—" for _ in shifts)
                         + f" | 0/{len(shifts)} |")
            continue
        cells = [_cell(part.loc[k]) if k in part.index else "" for k in shifts]
        lines.append(f"| {clip_id} | {first.category} | {int(first.base_offset):+d} ({first.base_confidence:.2f}) | "
                     + " | ".join(cells) + f" | {int(part['hit'].sum())}/{len(part)} |")
    lines += [""] + summary_lines(trials)
    return "\n".join(lines) + "\n"


def summary_lines(trials: pd.DataFrame) -> list[str]:
    s = summary(trials)
    lines = []
    for name, label in (("all", "All clips"), ("frontal", "Frontal speaking clips")):
        c = s[name]
        share = f" ({100 * c['hits'] / c['trials']:.0f} %)" if c["trials"] else ""
        lines.append(f"**{label}: {c['hits']} / {c['trials']} trials within ±{TOLERANCE} frame of base − k{share}**; "
                     f"every shift a hit on {c['clips_all_hit']} of {c['clips']} clips"
                     + (f"; {c['clips_unscored']} clip(s) without a score (counted as misses)" if c["clips_unscored"]
                        else "")
                     + (f"; {c['misses_beyond_search']} miss(es) expected an offset beyond ±{VSHIFT}"
                        if c["misses_beyond_search"] else "") + ".")
        lines.append("")
    c = s["frontal"]
    if c["clips"]:
        lines.append(f"**Frontal speaking clips, unshifted: {c['unshifted_within_tolerance']} of {c['clips']} answered "
                     f"within ±{TOLERANCE} frame of 0** ({c['unshifted_within_2']} within ±2; {c['unshifted_in_sync']} "
                     f"answered \"in sync\", not \"uncertain\"): the right answer when their sources publish them in "
                     f"sync, as the shared clips' are.")
        lines.append("")
    return lines[:-1]


def write_outputs(trials: Iterable[Trial] | pd.DataFrame, out_dir: str | Path, title: str = "",
                  description: str = "") -> pd.DataFrame:
    """trials.csv and table.md in out_dir, each written atomically; returns the trials table."""
    frame = trials if isinstance(trials, pd.DataFrame) else trials_frame(trials)
    out_dir = Path(out_dir)
    write_atomic(out_dir / "trials.csv", frame.to_csv(index=False))
    write_atomic(out_dir / "table.md", markdown_table(frame, title, description))
    return frame


def read_trials(paths: Iterable[str | Path], categories: dict[str, str] | None = None) -> pd.DataFrame:
    """Several studies' trials.csv as one table (e.g. the two folds of a held-out study); with
    `categories` ({file stem: category}), each clip's category is taken from them again."""
    frame = pd.concat([pd.read_csv(p, dtype={"clip_id": str, "reason": str}) for p in paths],
                      ignore_index=True).reindex(columns=TRIAL_COLUMNS)  # older studies lack base_verdict
    frame["reason"] = frame["reason"].fillna("")
    frame["base_verdict"] = frame["base_verdict"].fillna("")
    frame["hit"] = frame["hit"].astype(str).str.lower().eq("true")
    for column in ("base_offset", "offset", "expected", "error"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    if categories is not None:
        frame["category"] = [categories.get(Path(v).stem, UNKNOWN) for v in frame["video"]]
    return frame
