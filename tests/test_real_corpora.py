"""The pipeline on real talking-face clips (../shared/data/clips), arranged as an LRS2 tree and a
CN-CVS tree and run through the command line: manifest, audio, tracks, rgb, mel, in 2 shards.

Real video brings what the demo corpus does not: several faces, cutaways without a face, shot
changes, variable frame rate, portrait HEVC, small faces in 1080p, clips under a second. The tests
ask that nearly every speaking-face clip yields crops and Mel frames, that every other clip says why,
and that the crops are centred on the mouth as a second face detector (dlib, see helpers/mouth_check.py)
sees it. The full set runs once (LRS2 tree); the CN-CVS tree gets a subset (the muxed clips, whose
audio it splits into separate wavs, and three others, among them the .mov) to keep CI time down.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SHARED, venv_env
from helpers.mouth_check import CENTRE_TOLERANCE, ClipMouths, DlibMouths, locate_mouths, verdicts
from helpers.real_clips import CLIPS, arrange_cncvs, arrange_lrs2, real_clips

from unisync_model.corpora.manifest import shard_names
from unisync_model.io.shards import ShardReader
from unisync_model.settings import FPS, SAMPLE_RATE, RgbSettings, from_dict

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CLIPS / "manifest.csv").is_file(),
                       reason=f"needs the real clips in {CLIPS} (../shared is absent on this machine)"),
]

SHARDS = 2
JOBS = 2  # shards processed at once, as `snakemake --cores 2` would
STAGES = ("audio", "tracks", "rgb", "mel")
MIN_YIELD = 0.95  # of the speaking-face clips
CNCVS_OTHERS = ("wav2lip_pr600_test", "cantonese_icable_10075_0", "lrs2_deepavsr_00002")  # .mov, 1080p zh, 1.5 s
MOUTH_FRAMES = 8  # frames sampled per clip for the dlib check
MIN_FRAME_AGREEMENT = 0.75  # a clip agrees with dlib when this share of its checked frames do
MIN_CLIP_AGREEMENT = 0.8  # the share of checked clips that must agree
MIN_DLIB_FRAMES = 3  # a clip is checked when dlib finds its tracked face in at least this many frames
MAX_CROP_SHIFT = 1.0  # crop pixels between a stored crop and the full-resolution warp of its box
MAX_CROP_DIFFERENCE = 8.0  # mean grey levels, the same (reduced-size decoding blurs a little)


def report(request, text: str) -> None:
    """Write to the terminal even when pytest captures output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        print("\n" + text, flush=True)


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(["unisync", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=venv_env())


def run_all(commands: list[list[str]]) -> None:
    """Run the commands JOBS at a time; fail with the output of the first that fails."""
    pending = list(commands)
    running: list[tuple[list[str], subprocess.Popen]] = []
    failures = []
    while pending or running:
        while pending and len(running) < JOBS:
            args = pending.pop(0)
            running.append((args, cli(*args)))
        args, process = running.pop(0)
        output, _ = process.communicate()
        if process.returncode != 0:
            failures.append(f"unisync {' '.join(args)} exited {process.returncode}:\n{output[-3000:]}")
    assert not failures, "\n\n".join(failures)


@dataclass
class Run:
    name: str
    workdir: Path
    arranged: pd.DataFrame  # one row per placed clip (see real_clips)
    manifest: pd.DataFrame = field(default_factory=pd.DataFrame)
    readers: dict[str, list[ShardReader]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def shard_path(self, stage: str, shard: str) -> Path:
        return self.workdir / stage / f"{shard}.h5"

    def reader_of(self, stage: str, clip_id: str) -> ShardReader | None:
        return next((r for r in self.readers[stage] if clip_id in r), None)

    def skip_reason(self, stage: str, clip_id: str) -> str | None:
        for reader in self.readers[stage]:
            for record in reader.skipped:
                if record["clip_id"] == clip_id:
                    return record["reason"]
        return None


def run_pipeline(run: Run, recipe: str, root: Path) -> Run:
    workdir = run.workdir
    manifest = workdir / "clips.parquet"
    started = time.perf_counter()
    run_all([["manifest", "--recipe", recipe, "--root", str(root), "--shards", str(SHARDS), "--out", str(manifest)]])
    run.timings["manifest"] = time.perf_counter() - started
    shards = shard_names(SHARDS)
    of_shard = ["--manifest", str(manifest), "--shard"]
    stage_commands = {
        "audio": lambda s: ["audio", *of_shard, s, "--out", str(run.shard_path("audio", s))],
        "tracks": lambda s: ["tracks", *of_shard, s, "--out", str(run.shard_path("tracks", s))],
        "rgb": lambda s: ["rgb", *of_shard, s, "--tracks", str(run.shard_path("tracks", s)),
                          "--out", str(run.shard_path("rgb", s))],
        "mel": lambda s: ["mel", "--audio", str(run.shard_path("audio", s)), "--out", str(run.shard_path("mel", s))],
    }
    for stage in STAGES:
        started = time.perf_counter()
        run_all([stage_commands[stage](s) for s in shards])
        run.timings[stage] = time.perf_counter() - started
    run.manifest = pd.read_parquet(manifest)
    run.readers = {stage: [ShardReader(run.shard_path(stage, s)) for s in shards] for stage in STAGES}
    return run


def _norm(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def accounting(run: Run) -> pd.DataFrame:
    """Per placed clip: its manifest row (matched by path), what each stage did with it, and why not."""
    by_path = {_norm(row["path"]): row for _, row in run.manifest.iterrows()}
    rows = []
    for clip in run.arranged.itertuples():
        entry = by_path.get(_norm(clip.path))
        row = {"name": clip.name, "kind": clip.kind, "speaking": clip.speaking,
               "clip_id": None if entry is None else entry["clip_id"],
               "manifest": "missing" if entry is None else entry["status"]}
        for stage in STAGES:
            if entry is None or entry["status"] != "ok":
                row[stage] = "-"
                continue
            reader = run.reader_of(stage, entry["clip_id"])
            reason = run.skip_reason(stage, entry["clip_id"])
            row[stage] = (f"{reader.length(entry['clip_id'])} frames" if reader is not None
                          else f"skipped: {reason}" if reason is not None else "missing")
        tracks = None if entry is None else run.reader_of("tracks", entry["clip_id"])
        info = tracks.info(entry["clip_id"]) if tracks is not None and hasattr(tracks, "info") else {}
        row["segments"] = " ".join(f"{a}-{b}" for a, b in info.get("segments", [])) or "-"
        row["yields"] = row["rgb"].endswith("frames") and row["mel"].endswith("frames")
        row["unexplained"] = entry is None or any(row[stage] == "missing" for stage in STAGES)
        reasons = [row["manifest"]] if row["manifest"] != "ok" else \
            [f"{stage} {row[stage]}" for stage in STAGES if not row[stage].endswith("frames")]
        row["reason"] = "; ".join(reasons)
        rows.append(row)
    return pd.DataFrame(rows)


def table_text(table: pd.DataFrame, columns: list[str]) -> str:
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_colwidth", 70):
        return table[columns].to_string(index=False)


# -------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def real_table() -> pd.DataFrame:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg (apt-get install ffmpeg)")
    return real_clips()


@pytest.fixture(scope="session")
def lrs2_run(real_table, yunet_weights, tmp_path_factory, request) -> Run:
    base = tmp_path_factory.mktemp("real_lrs2")
    started = time.perf_counter()
    arranged = arrange_lrs2(real_table, base / "tree")
    run = Run("LRS2 tree, all real clips", base / "work", arranged)
    run.timings["arrange"] = time.perf_counter() - started
    run_pipeline(run, "lrs2", base / "tree")
    _report_run(request, run)
    return run


@pytest.fixture(scope="session")
def cncvs_run(real_table, yunet_weights, tmp_path_factory, request) -> Run:
    base = tmp_path_factory.mktemp("real_cncvs")
    subset = real_table[(real_table["kind"] == "real_muxed") | real_table["name"].isin(CNCVS_OTHERS)]
    assert len(subset) == 6 + len(CNCVS_OTHERS), "the CN-CVS subset's clips are not all in the clip manifest"
    started = time.perf_counter()
    arranged = arrange_cncvs(subset, base / "tree")
    run = Run("CN-CVS tree, subset", base / "work", arranged)
    run.timings["arrange"] = time.perf_counter() - started
    run_pipeline(run, "cncvs", base / "tree")
    _report_run(request, run)
    return run


def _report_run(request, run: Run) -> None:
    total = sum(run.timings.values())
    lines = [f"== {run.name}: {len(run.arranged)} clips, {total:.0f} s ("
             + ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items()) + ")"]
    table = accounting(run)
    lines.append(table_text(table, ["name", "clip_id", "manifest", *STAGES, "segments"]))
    report(request, "\n".join(lines))


@pytest.fixture(scope="session")
def lrs2_mouths(lrs2_run, request) -> dict[str, ClipMouths]:
    """dlib's view of MOUTH_FRAMES frames of every clip that yielded crops in the LRS2 run."""
    table = accounting(lrs2_run)
    settings = rgb_settings(lrs2_run)
    dlib_mouths = DlibMouths()
    paths = dict(zip(lrs2_run.arranged["name"], lrs2_run.arranged["path"]))
    found = {}
    started = time.perf_counter()
    for row in table[table["yields"]].itertuples():
        tracks = lrs2_run.reader_of("tracks", row.clip_id)
        rgb = lrs2_run.reader_of("rgb", row.clip_id)
        found[row.name] = locate_mouths(paths[row.name], tracks.read(row.clip_id), track_columns(tracks),
                                        rgb.read(row.clip_id), settings, dlib_mouths, MOUTH_FRAMES)
    report(request, f"== dlib mouth check: {len(found)} clips, {time.perf_counter() - started:.0f} s")
    return found


def track_columns(reader: ShardReader) -> list[str]:
    columns = reader.attrs.get("columns")
    assert columns is not None, "the tracks shard does not record its columns"
    return json.loads(columns) if isinstance(columns, str) else list(columns)


def rgb_settings(run: Run) -> RgbSettings:
    recorded = run.readers["rgb"][0].attrs.get("settings")
    return from_dict(RgbSettings, json.loads(recorded)) if recorded else RgbSettings()


# ------------------------------------------------------------------------------------------ the corpora

def test_lrs2_tree_is_listed_as_arranged(lrs2_run):
    """Every placed clip is in the manifest, under its `<video id>/<clip>` id, split and speaker, with
    the NF / MV marks of the test list dropped."""
    table = accounting(lrs2_run)
    missing = table.loc[table["manifest"] == "missing", "name"].tolist()
    assert not missing, f"not in the manifest: {missing}"
    listed = lrs2_run.manifest.set_index("clip_id")
    assert len(listed) == len(lrs2_run.arranged), "the manifest lists clips that were not placed"
    for clip in lrs2_run.arranged.itertuples():
        assert listed.loc[clip.clip_id, "split"] == clip.split
        assert listed.loc[clip.clip_id, "speaker"] == clip.clip_id.split("/")[0]
    assert set(listed["split"]) == {"train", "val", "test"}


def test_cncvs_tree_is_listed_with_its_separate_audio(cncvs_run):
    """Every placed clip is found, the .mov among them, and the muxed clips' audio is the wav beside
    the video (the video files in the tree have no audio stream)."""
    table = accounting(cncvs_run)
    missing = table.loc[table["manifest"] == "missing", "name"].tolist()
    placed = cncvs_run.arranged.set_index("name").loc[missing, "path"].tolist()
    assert not missing, f"the cncvs recipe did not list {missing} (placed as {placed})"
    assert len(cncvs_run.manifest) == len(cncvs_run.arranged), "the manifest lists clips that were not placed"
    assert "audio_path" in cncvs_run.manifest.columns, "the manifest does not keep the recipe's audio_path"
    by_path = cncvs_run.manifest.assign(norm=[_norm(p) for p in cncvs_run.manifest["path"]]).set_index("norm")
    for clip in cncvs_run.arranged.itertuples():
        assert _norm(by_path.loc[_norm(clip.path), "audio_path"]) == _norm(clip.audio_path), clip.name


def _assert_yield(run: Run) -> None:
    table = accounting(run)
    speaking = table[table["speaking"]]
    needed = math.ceil(MIN_YIELD * len(speaking))
    assert speaking["yields"].sum() >= needed, (
        f"{run.name}: {speaking['yields'].sum()} of {len(speaking)} speaking-face clips yield rgb and mel, "
        f"need {needed}; the others:\n" + table_text(speaking[~speaking["yields"]], ["name", "clip_id", "reason"]))


def _assert_accounted(run: Run) -> None:
    """No clip vanishes: a clip without crops or Mel frames has a reason in the manifest or a shard."""
    table = accounting(run)
    unexplained = table[table["unexplained"] | (~table["yields"] & (table["reason"] == ""))]
    assert unexplained.empty, f"{run.name}: clips without output and without a reason:\n" + \
        table_text(unexplained, ["name", "clip_id", "manifest", *STAGES])
    for stage in STAGES:
        for reader in run.readers[stage]:
            extra = (set(reader.clip_ids) | {r["clip_id"] for r in reader.skipped}) - set(run.manifest["clip_id"])
            assert not extra, f"{stage} shard {reader.path.name} has clips not in the manifest: {extra}"


def test_lrs2_speaking_clips_yield_rgb_and_mel(lrs2_run):
    _assert_yield(lrs2_run)


def test_lrs2_every_clip_is_accounted_for(lrs2_run):
    _assert_accounted(lrs2_run)


def test_cncvs_speaking_clips_yield_rgb_and_mel(cncvs_run):
    _assert_yield(cncvs_run)


def test_cncvs_every_clip_is_accounted_for(cncvs_run):
    _assert_accounted(cncvs_run)


def test_cncvs_separate_wav_gives_the_whole_audio(cncvs_run):
    """The muxed clips' audio shards come from the wavs and last as long as their video."""
    table = accounting(cncvs_run).set_index("name")
    for clip in cncvs_run.arranged[cncvs_run.arranged["kind"] == "real_muxed"].itertuples():
        clip_id = table.loc[clip.name, "clip_id"]
        assert clip_id is not None, f"{clip.name} is not in the manifest"
        audio = cncvs_run.reader_of("audio", clip_id)
        assert audio is not None, f"{clip.name}: no audio ({cncvs_run.skip_reason('audio', clip_id)})"
        tracks = cncvs_run.reader_of("tracks", clip_id)
        assert tracks is not None, f"{clip.name}: no track ({cncvs_run.skip_reason('tracks', clip_id)})"
        audio_s, video_s = audio.length(clip_id) / SAMPLE_RATE, tracks.length(clip_id) / FPS
        assert abs(audio_s - video_s) < 0.5, f"{clip.name}: audio {audio_s:.2f} s, video {video_s:.2f} s"


# ------------------------------------------------------------------------------------- the mouth check

def _mouth_table(found: dict, settings: RgbSettings, shift=(0.0, 0.0)) -> pd.DataFrame:
    rows = []
    for name, clip in found.items():
        judged = verdicts(clip, settings, shift)
        ok = [v.ok for v in judged]
        centre_x = [v.centre_x for v in judged if not math.isnan(v.centre_x)]
        centre_y = [v.centre_y for v in judged if not math.isnan(v.centre_y)]
        rows.append({"name": name, "sampled": len(clip.sampled), "dlib_no_face": clip.no_face,
                     "dlib_elsewhere": clip.elsewhere, "checked": len(judged), "agree": int(sum(ok)),
                     "centre_x": round(float(np.median(centre_x)), 1) if centre_x else float("nan"),
                     "centre_y": round(float(np.median(centre_y)), 1) if centre_y else float("nan"),
                     "crop_shift": round(max(clip.crop_shift), 2) if clip.crop_shift else float("nan"),
                     "counted": len(clip.mouths) >= MIN_DLIB_FRAMES,
                     "agrees": len(judged) > 0 and sum(ok) >= MIN_FRAME_AGREEMENT * len(judged)})
    return pd.DataFrame(rows)


MOUTH_COLUMNS = ["name", "sampled", "dlib_no_face", "dlib_elsewhere", "checked", "agree", "centre_x", "centre_y",
                 "crop_shift", "agrees"]


def test_mouth_check_uses_the_rgb_stage_transform(lrs2_mouths):
    """The stored crops are the full-resolution frames warped by rgb.crop_matrix of the track boxes (up
    to the blur of decoding at a reduced size), so the landmarks are mapped the way the pixels were."""
    off = {name: (round(max(c.crop_shift), 2), round(max(c.crop_difference), 1)) for name, c in lrs2_mouths.items()
           if not c.crop_shift or max(c.crop_shift) > MAX_CROP_SHIFT or max(c.crop_difference) > MAX_CROP_DIFFERENCE}
    assert not off, (f"stored crops are displaced from the recomputed warp by more than {MAX_CROP_SHIFT} px, or "
                     f"differ by more than {MAX_CROP_DIFFERENCE} grey levels on average (clip: worst shift, worst "
                     f"difference; or none comparable): {off}")


def test_crops_are_centred_on_the_mouth(lrs2_run, lrs2_mouths, request):
    settings = rgb_settings(lrs2_run)
    table = _mouth_table(lrs2_mouths, settings)
    report(request, "== dlib mouth check (crop 96 × 48; centre x should be near 48, y inside 0..48)\n"
           + table_text(table, MOUTH_COLUMNS))
    counted = table[table["counted"]]
    assert len(counted) >= 0.7 * len(table), (
        f"dlib found the tracked face in {MIN_DLIB_FRAMES}+ frames of only {len(counted)} of {len(table)} clips")
    assert counted["agrees"].mean() >= MIN_CLIP_AGREEMENT, (
        f"only {counted['agrees'].sum()} of {len(counted)} clips have the mouth centred (|x − 48| < "
        f"{CENTRE_TOLERANCE:g}) and inside the crop in {MIN_FRAME_AGREEMENT:.0%} of the frames dlib checked:\n"
        + table_text(counted[~counted["agrees"]], MOUTH_COLUMNS))


@pytest.mark.parametrize("shift", [(0.5, 0.0), (0.0, 0.5)], ids=["half-width-sideways", "half-height-down"])
def test_mouth_check_fails_on_shifted_boxes(lrs2_run, lrs2_mouths, shift):
    """The negative control: the same landmarks judged against boxes moved by half a face fail."""
    table = _mouth_table(lrs2_mouths, rgb_settings(lrs2_run), shift)
    counted = table[table["counted"]]
    assert len(counted) > 0
    assert counted["agrees"].mean() < 0.2, table_text(counted[counted["agrees"]], MOUTH_COLUMNS)


# ---------------------------------------------------------------- every representation (issue 5)

MORE_STAGES = ("landmarks", "parsing", "tdmm", "hubert")


@pytest.fixture(scope="session")
def lrs2_every_stage(lrs2_run, tmp_path_factory, request):
    """landmarks (dlib), parsing (from the landmarks), tdmm (3DDFA_V2 mb05) and hubert (a tiny random
    HuBERT: the real one is not available offline) on the LRS2 tree's shards."""
    from helpers.tiny_hubert import make_tiny_hubert
    if not (SHARED / "weights" / "3ddfa_v2_mb05_120x120.pth").is_file():
        pytest.skip("needs the 3DDFA_V2 weights in ../shared/weights")
    hubert = json.dumps({"model": str(make_tiny_hubert(tmp_path_factory.mktemp("hubert") / "tiny")), "layer": 2})
    manifest = str(lrs2_run.workdir / "clips.parquet")
    path = lrs2_run.shard_path
    commands = {
        "landmarks": lambda s: ["landmarks", "--manifest", manifest, "--shard", s, "--tracks", str(path("tracks", s)),
                                "--out", str(path("landmarks", s))],
        "parsing": lambda s: ["parsing", "--manifest", manifest, "--shard", s, "--tracks", str(path("tracks", s)),
                              "--landmarks", str(path("landmarks", s)), "--out", str(path("parsing", s))],
        "tdmm": lambda s: ["tdmm", "--manifest", manifest, "--shard", s, "--tracks", str(path("tracks", s)),
                           "--out", str(path("tdmm", s))],
        "hubert": lambda s: ["hubert", "--audio", str(path("audio", s)), "--settings", hubert,
                             "--out", str(path("hubert", s))],
    }
    for stage in MORE_STAGES:
        started = time.perf_counter()
        run_all([commands[stage](s) for s in shard_names(SHARDS)])
        lrs2_run.timings[stage] = time.perf_counter() - started
        lrs2_run.readers[stage] = [ShardReader(path(stage, s)) for s in shard_names(SHARDS)]
    report(request, "== every stage on the LRS2 tree: " + ", ".join(
        f"{stage} {lrs2_run.timings[stage]:.0f} s" for stage in MORE_STAGES))
    return lrs2_run


def test_every_stage_gives_shards_for_the_clips_with_a_face(lrs2_every_stage):
    run = lrs2_every_stage
    with_face = [c for r in run.readers["tracks"] for c in r.clip_ids]
    assert len(with_face) >= 0.95 * len(run.manifest)
    shapes = {"landmarks": (68, 2), "parsing": (48, 96), "tdmm": (62,)}
    for clip_id in with_face:
        frames = run.reader_of("tracks", clip_id).length(clip_id)
        for stage, shape in shapes.items():
            reader = run.reader_of(stage, clip_id)
            assert reader is not None, f"{stage}: no {clip_id} ({run.skip_reason(stage, clip_id)})"
            array = reader.read(clip_id)
            assert array.shape == (frames, *shape), (stage, clip_id, array.shape)
            assert np.isfinite(array).all() if array.dtype.kind == "f" else True
        samples = run.reader_of("audio", clip_id).length(clip_id)
        assert run.reader_of("hubert", clip_id).length(clip_id) == samples // 320  # 50 Hz
