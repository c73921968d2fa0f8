"""The audio-shift study (shift_study.py): on a synthetic face whose mouth follows a known envelope,
shifting the samples in memory by k frames moves the training-free offset by exactly −k; the shift
itself is exact and keeps the length; categories come from the clip manifest's notes; trials.csv and
table.md say what happened, clips without a score included; on two short real clips, `unisync
shift-study` runs end to end."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, SHARED, venv_env
from test_score import SYNTHETIC, UNGATED, synthetic_clip

from unisync_model.scoring import shift_study as study
from unisync_model.scoring.scorers import ClipData
from unisync_model.scoring.scorers.training_free import TrainingFreeScorer

CLIPS = SHARED / "data" / "clips"
REAL = CLIPS / "real"


def test_shift_samples_moves_by_whole_frames_and_keeps_the_length():
    x = np.arange(1, 6401, dtype=np.float32)  # 10 frames of 640 samples
    late, early = study.shift_samples(x, 2), study.shift_samples(x, -3)
    assert len(late) == len(early) == len(x)
    assert (late[:1280] == 0).all() and (late[1280:] == x[:-1280]).all()  # delayed: zeros in front
    assert (early[:-1920] == x[1920:]).all() and (early[-1920:] == 0).all()  # advanced: zeros at the end
    assert (study.shift_samples(x, 12) == 0).all() and (study.shift_samples(x, -12) == 0).all()  # all moved out
    assert (study.shift_samples(x, 0) == x).all()


@pytest.mark.parametrize("delay", [0, 3])
def test_in_memory_shift_moves_the_offset_by_exactly_minus_k(delay):
    """A synthetic clip whose audio already lags by `delay`: base −delay, then base − k for each k."""
    scorer = TrainingFreeScorer(SYNTHETIC)
    trials = study.study_clip(synthetic_clip(delay), scorer, (-10, -5, 5, 10), category=study.FRONTAL,
                             settings=UNGATED)
    assert [t.shift_frames for t in trials] == [-10, -5, 5, 10]
    assert all(t.base_offset == -delay for t in trials)
    assert [t.offset for t in trials] == [-delay - k for k in (-10, -5, 5, 10)]
    assert all(t.hit and t.error == 0 and t.expected == t.base_offset - t.shift_frames for t in trials)
    assert all(t.confidence > 0.2 for t in trials)


def test_a_wrong_move_is_a_miss(monkeypatch):
    """The hit test is not vacuous: audio moved by k + 3 instead of k gives misses 3 frames off."""
    real_shift = study.shift_samples
    monkeypatch.setattr(study, "shift_samples", lambda samples, k: real_shift(samples, k + 3))
    trials = study.study_clip(synthetic_clip(0), TrainingFreeScorer(SYNTHETIC), (-5, 5), settings=UNGATED)
    assert [t.offset for t in trials] == [2, -8] and [t.error for t in trials] == [-3, -3]
    assert not any(t.hit for t in trials)
    table = study.markdown_table(study.trials_frame(trials))
    assert "| +2 ✗ (exp. +5) | -8 ✗ (exp. -5) | 0/2 |" in table


def test_misses_beyond_the_search_are_counted():
    """A base of −8 delayed by 10 expects −18: outside −15…+15, a miss the summary names."""
    trials = [study.Trial("x", "x", study.FRONTAL, "s", 10, base_offset=-8, offset=-5, expected=-18, error=13,
                          base_confidence=0.1),
              study.Trial("x", "x", study.FRONTAL, "s", -5, base_offset=-8, offset=-3, expected=-3, error=0, hit=True,
                          base_confidence=0.1)]
    frame = study.trials_frame(trials)
    assert study.summary(frame)["frontal"]["misses_beyond_search"] == 1
    assert study.summary(frame)["frontal"]["unshifted_within_tolerance"] == 0  # a base of −8: wrong if in sync
    assert ('unshifted: 0 of 1 answered within ±1 frame of 0** (0 within ±2; 0 answered "in sync", not "uncertain")'
            in study.markdown_table(frame))
    assert "1 miss(es) expected an offset beyond ±15" in study.markdown_table(frame)


def test_an_uncertain_unshifted_answer_is_not_counted_in_sync():
    trials = [study.Trial(c, c, study.FRONTAL, "s", 5, base_offset=0, offset=-5, expected=-5, error=0, hit=True,
                          base_confidence=conf, base_verdict=verdict)
              for c, conf, verdict in (("a", 0.1, "uncertain"), ("b", 0.3, "in sync"))]
    counts = study.summary(study.trials_frame(trials))["frontal"]
    assert counts["unshifted_within_tolerance"] == 2 and counts["unshifted_in_sync"] == 1


def test_categories_from_the_notes():
    cases = {"NEGATIVE case: face expressions over background song, not speech": "music / singing",
             "performer may be miming pre-recorded audio; sync uncertain": "uncertain sync",
             "B-roll cutaways with NO face; possibly voice-over": "uncertain sync",
             "stage performance, cutaways to audience with MULTIPLE FACES": "multi-face / cutaways",
             "VoxCeleb2 224 crop; strong head turns (profile at end)": "head turns",
             "non-frontal (three-quarter) head pose": "head turns",
             "LRS2 crop; very short (1.4 s)": "short",
             "HDTF 512 crop; glasses": study.FRONTAL,
             "VoxCeleb2 224 crop; whisper-base: I did the song with a couple of guys": study.FRONTAL}
    assert {n: study.category_of(n, 8.0) for n in cases} == cases
    assert study.category_of("LRS2 crop", 0.9) == "short"
    with pytest.raises(ValueError, match="non-zero"):
        study.parse_shifts("-5,0,5")
    assert study.parse_shifts("-10,-5,5,10") == (-10, -5, 5, 10)


@pytest.mark.skipif(not (CLIPS / "manifest.csv").is_file(), reason=f"needs {CLIPS}/manifest.csv (../shared absent)")
def test_the_shared_clips_have_twenty_frontal_speaking_clips():
    categories = {k: v for k, v in study.clip_categories(CLIPS / "manifest.csv").items()
                  if (REAL / k).with_suffix(".mp4").exists() or (REAL / k).with_suffix(".mov").exists()}
    assert len(categories) == 32
    counts = pd.Series(categories).value_counts().to_dict()
    assert counts[study.FRONTAL] == 20, counts
    assert categories["liveportrait_d6_music"] == "music / singing"
    assert categories["vox_pcavs_Pose_Source_517600055"] == "head turns"
    assert categories["lrs2_deepavsr_00006"] == "short"
    assert categories["vox_pcavs_Pose_Source_796100172"] == "head turns"  # its transcript mentions a song


def test_outputs_list_every_trial_and_the_clips_without_a_score(tmp_path):
    scorer = TrainingFreeScorer(SYNTHETIC)
    trials = study.study_clip(synthetic_clip(0), scorer, study.SHIFTS, category=study.FRONTAL, settings=UNGATED)
    short = synthetic_clip(0, frames=12)
    short.clip_id = "short"
    trials += study.study_clip(short, scorer, study.SHIFTS, category="short", settings=UNGATED)
    frame = study.write_outputs(trials, tmp_path, title="synthetic")
    on_disk = study.read_trials([tmp_path / "trials.csv"])
    assert list(on_disk.columns) == study.TRIAL_COLUMNS and len(on_disk) == 8
    pd.testing.assert_frame_equal(on_disk, frame, check_dtype=False)
    assert on_disk["hit"].sum() == 4
    unscored = on_disk[on_disk["clip_id"] == "short"]
    assert (unscored["status"] == "no score").all() and unscored["reason"].str.contains("too short").all()
    table = (tmp_path / "table.md").read_text()
    assert "| synthetic | frontal speaking | +0 (" in table and "| 4/4 |" in table
    assert "| short | short | no score: segment too short" in table and "| 0/4 |" in table
    assert "All clips: 4 / 8 trials" in table and "Frontal speaking clips: 4 / 4 trials" in table
    assert "every shift a hit on 1 of 2 clips; 1 clip(s) without a score" in table
    assert not list(tmp_path.glob("*.tmp"))
    # two studies (the folds of a held-out run) merge into one table
    merged = study.read_trials([tmp_path / "trials.csv", tmp_path / "trials.csv"])
    assert study.summary(merged)["all"] == {"trials": 16, "hits": 8, "clips": 2, "clips_all_hit": 1,
                                            "clips_unscored": 1, "misses_beyond_search": 0,
                                            "unshifted_within_tolerance": 1, "unshifted_within_2": 1,
                                            "unshifted_in_sync": 1}
    assert ('Frontal speaking clips, unshifted: 1 of 1 answered within ±1 frame of 0** (1 within ±2; 1 answered '
            '"in sync", not "uncertain")' in table)
    recategorised = study.read_trials([tmp_path / "trials.csv"], {"synthetic": "head turns"})
    assert set(recategorised["category"]) == {"head turns", study.UNKNOWN}


def test_audio_arrays_are_recomputed_after_a_shift():
    """The UniSync scorer's Mel comes from the samples: a shifted clip must not keep the old one."""
    class Recorder:
        name, window, normalise, needs, needs_video = "recorder", 5, False, (), False

        def prepare(self, clip):
            clip.arrays.setdefault("mel", clip.samples[::200].copy())

    clip = ClipData("c", None, np.zeros((10, 17), np.float32), np.arange(6400, dtype=np.float32),
                    {"rgb": np.ones(10), "mel": np.full(32, -1.0)})
    moved = study.shifted_clip(clip, 1, Recorder())
    assert moved.arrays["rgb"] is clip.arrays["rgb"]
    assert moved.arrays["mel"][0] == 0 and moved.arrays["mel"][4] == 160  # 640 samples later
    assert clip.arrays["mel"][0] == -1  # the original is untouched


def test_the_study_config_validates_and_its_folds_hold_every_clip_once():
    """configs/shift_study.yaml on top of config.yaml passes the schema; each real clip is in the test
    split of exactly one fold and never trained on in that fold; the held-out lists are those test splits."""
    import yaml
    from snakemake.utils import update_config, validate
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "configs" / "shift_study.yaml").read_text()))
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    assert config["train"]["model"]["width"] == 8 and config["train"]["model"]["embed_dim"] == 128
    import copy
    landmarks = copy.deepcopy(config)  # the landmarks variant goes on top of it
    update_config(landmarks, yaml.safe_load((ROOT / "configs" / "shift_study_landmarks.yaml").read_text()))
    validate(landmarks, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    assert landmarks["shift_study"]["visual"] == "landmarks" and landmarks["corpus"]["name"] != config["corpus"]["name"]
    lists = ROOT / config["shift_study"]["lists"]
    every = pd.read_csv(lists / "all.csv")
    real = set(every.loc[every["path"].str.startswith("clips/real/"), "path"])
    assert len(real) == 32
    tested = []
    for fold in config["shift_study"]["folds"]:
        table = pd.read_csv(lists / f"fold{fold}.csv")
        assert set(table["path"]) == set(every["path"])
        test = table[table["split"] == "test"]
        assert not set(test["speaker"]) & set(table.loc[table["split"].isin(["train", "val"]), "speaker"])
        listed = [line for line in (lists / f"heldout{fold}.txt").read_text().splitlines() if not line.startswith("#")]
        assert sorted(listed) == sorted(test["path"])
        tested += listed
    assert sorted(tested) == sorted(real)


@pytest.mark.slow
def test_cli_on_two_short_real_clips(tmp_path, yunet_weights, small_real_clips):
    """The committed 3 s clip (frontal, speaking) and a 1.4 s cut of the other one ("short"), with a notes
    file in the shared manifest's format."""
    frontal, cut = "vox_pcavs_Audio_Source_00086", "vox_pcavs_Audio_Source_681100216_short"
    short = tmp_path / f"{cut}.mp4"
    source = small_real_clips["vox_pcavs_Audio_Source_681100216"]
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), "-t", "1.4", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "aac", str(short)], check=True)
    notes = tmp_path / "notes.csv"
    pd.DataFrame({"file": [f"real/{frontal}.mp4", f"real/{cut}.mp4"], "duration_s": [3.0, 1.4],
                  "notes": ["VoxCeleb2 224 crop", "VoxCeleb2 224 crop, cut"]}).to_csv(notes, index=False)
    out = tmp_path / "study"
    run = subprocess.run(["unisync", "shift-study", str(small_real_clips[frontal]), str(short), "--seconds", "3",
                          "--shifts", "-5,5", "--clip-notes", str(notes), "--out-dir", str(out)],
                         env=venv_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    trials = study.read_trials([out / "trials.csv"])
    assert trials["clip_id"].tolist() == [frontal] * 2 + [cut] * 2
    measured = trials[trials["clip_id"] == frontal]
    assert (measured["category"] == study.FRONTAL).all() and measured["hit"].all(), measured.to_string()
    assert sorted(measured["shift_frames"]) == [-5, 5]
    moved = measured["offset"] - measured["base_offset"]  # each shift moves the measured offset by −shift, ±1 frame
    assert ((moved + measured["shift_frames"]).abs() <= 1).all(), measured.to_string()
    assert (trials.loc[trials["clip_id"] == cut, "category"] == "short").all()
    assert "Frontal speaking clips: 2 / 2 trials" in run.stdout
    assert "TRAINING-FREE" in (out / "table.md").read_text()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
