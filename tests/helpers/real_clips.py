"""The real talking-face clips of ../shared/data/clips, arranged as corpora the recipes read.

Nothing is copied: the trees are symlinks to the shared files (never commit them; see the clips'
README), except where a layout needs a file that does not exist upstream (CN-CVS's separate
`audio/<name>.wav`), which ffmpeg splits out of the muxed clips.

`arranged` tables have one row per placed clip: `name` (the shared file's stem), `source` (the shared
file), `kind` (real / real_muxed), `speaking` (see `NOT_SPEAKING`), `notes` (the clip manifest's),
`path` (the file in the tree, as the recipe should report it), `audio_path`, and the split the tree
gives it.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd

from helpers.paths import SHARED

CLIPS = SHARED / "data" / "clips"
KINDS = ("real", "real_muxed")

# Clips whose face does not produce the audio, decided from the clip manifest's notes. Only
# liveportrait_d6_music is such a case ("NEGATIVE case: face expressions over background song, not
# speech"): a face is on screen throughout, so the pipeline may well yield it, but no sync expert can
# be asked to find its lips in sync, so it is left out of the "speaking-face clips" that must yield.
# Clips that look borderline stay in: facerec_short_hamilton_clip is sung (the singer's lips make the
# sound), liveportrait_d10 and d12 are performers miming or speaking over music (unreliable sync, but
# their mouths move with the voice), and the quiet-audio clips (dfdc_lynaeydofd_real, hdtf_RD_Radio2,
# vretalk_face4) are quiet, not silent.
NOT_SPEAKING = {"liveportrait_d6_music"}


def real_clips() -> pd.DataFrame:
    """The real and real_muxed rows of the clip manifest, with `name`, `source` and `speaking` added."""
    table = pd.read_csv(CLIPS / "manifest.csv")
    table = table[table["kind"].isin(KINDS)].copy()
    table["source"] = [str(CLIPS / f) for f in table["file"]]
    table["name"] = [Path(f).stem for f in table["file"]]
    table["speaking"] = ~table["name"].isin(NOT_SPEAKING)
    missing = [s for s in table["source"] if not Path(s).is_file()]
    if missing:
        raise FileNotFoundError(f"clips listed in {CLIPS / 'manifest.csv'} are missing: {missing}")
    return table.sort_values("file").reset_index(drop=True)


def speaker_slug(speaker: str) -> str:
    """A folder-safe speaker id from the clip manifest's speaker column (e.g. 'Alexandria
    Ocasio-Cortez' → 'alexandria_ocasio_cortez'): the three clips of that speaker share it, while the
    manifest's descriptions keep unknown people apart ('unknown young woman (vlogger)' ≠ 'unknown
    young woman')."""
    slug = re.sub(r"[^a-z0-9]+", "_", speaker.lower()).strip("_")
    return slug[:48].rstrip("_")


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


# ----------------------------------------------------------------------------------------------- LRS2

LRS2_SPLIT_CYCLE = ("train", "train", "val", "train", "test")  # by speaker, in sorted order


def arrange_lrs2(clips: pd.DataFrame, root: Path) -> pd.DataFrame:
    """`<root>/mvlrs_v1/main/<speaker>/<00001…>.mp4` and the filelists train/val/test.txt.

    Splits go by speaker (a speaker's clips share a split). Test lines alternate between no mark,
    ` NF` and ` MV` as in LRS2's test list, so the recipe must drop the marks. LRS2 files are all
    .mp4, so the one .mov is linked under an .mp4 name (ffmpeg reads the container, not the name)."""
    rows = []
    speakers = sorted({speaker_slug(s) for s in clips["speaker"]})
    split_of = {s: LRS2_SPLIT_CYCLE[k % len(LRS2_SPLIT_CYCLE)] for k, s in enumerate(speakers)}
    counts: dict[str, int] = {}
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for clip in clips.itertuples():
        video_id = speaker_slug(clip.speaker)
        counts[video_id] = counts.get(video_id, 0) + 1
        clip_id = f"{video_id}/{counts[video_id]:05d}"
        path = root / "mvlrs_v1" / "main" / f"{clip_id}.mp4"
        _link(Path(clip.source), path)
        split = split_of[video_id]
        mark = ""
        if split == "test":
            mark = ("", " NF", " MV")[len(lines["test"]) % 3]
        lines[split].append(clip_id + mark)
        rows.append({"clip_id": clip_id, "name": clip.name, "source": clip.source, "kind": clip.kind,
                     "speaking": clip.speaking, "notes": clip.notes, "path": str(path), "audio_path": str(path),
                     "split": split})
    for split, split_lines in lines.items():
        (root / f"{split}.txt").write_text("".join(line + "\n" for line in split_lines))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- CN-CVS

def split_muxed(source: Path, video_out: Path, wav_out: Path) -> None:
    """A muxed clip → a video-only file (stream copy) and its audio as 16-bit PCM wav."""
    video_out.parent.mkdir(parents=True, exist_ok=True)
    wav_out.parent.mkdir(parents=True, exist_ok=True)
    for cmd in (["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-map", "0:v:0", "-c:v", "copy",
                 "-an", str(video_out)],
                ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-map", "0:a:0", "-vn",
                 "-c:a", "pcm_s16le", str(wav_out)]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr[-500:]}")


def arrange_cncvs(clips: pd.DataFrame, root: Path) -> pd.DataFrame:
    """`<root>/{news,speech}/<speaker>/video/<name>.<ext>`, the real extension kept (.mov stays .mov).

    Muxed clips are split: a video-only mp4 in `video/` and the audio in `audio/<name>.wav`, the
    layout whose audio the recipe must find beside the video. The others keep their audio inside.
    Subsets alternate (per kind) so that both subsets hold both kinds of audio."""
    rows = []
    seen: dict[str, int] = {}
    for clip in clips.itertuples():
        k = seen[clip.kind] = seen.get(clip.kind, -1) + 1
        subset = ("news", "speech")[k % 2]
        speaker_dir = root / subset / speaker_slug(clip.speaker)
        source = Path(clip.source)
        if clip.kind == "real_muxed":
            path = speaker_dir / "video" / f"{source.stem}.mp4"
            audio_path = speaker_dir / "audio" / f"{source.stem}.wav"
            split_muxed(source, path, audio_path)
        else:
            path = audio_path = speaker_dir / "video" / source.name
            _link(source, path)
        rows.append({"name": clip.name, "source": clip.source, "kind": clip.kind, "speaking": clip.speaking,
                     "notes": clip.notes, "subset": subset, "path": str(path), "audio_path": str(audio_path)})
    return pd.DataFrame(rows)
