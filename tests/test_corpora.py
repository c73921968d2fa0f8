"""The corpus recipes on trees of empty files: what each lists, with which speaker and split."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from unisync_model.corpora import CLIP_COLUMNS, RECIPES, cncvs, folder, lrs2
from unisync_model.corpora.splits import split_of_speaker


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_lrs2_reads_the_filelists_and_uses_the_video_id_as_speaker(tmp_path):
    for name in ("6330311066473698535/00011", "6330311066473698535/00018", "5535415699068794046/00001"):
        touch(tmp_path / "mvlrs_v1" / "main" / f"{name}.mp4")
    touch(tmp_path / "mvlrs_v1" / "pretrain" / "5540944064193452331" / "00003.mp4")
    (tmp_path / "train.txt").write_text("6330311066473698535/00011\n6330311066473698535/00018\n")
    (tmp_path / "val.txt").write_text("")
    (tmp_path / "test.txt").write_text("5535415699068794046/00001 NF\n")
    (tmp_path / "pretrain.txt").write_text("5540944064193452331/00003\n")
    clips = lrs2.list_clips(tmp_path)
    assert list(clips.columns) == CLIP_COLUMNS
    assert clips["clip_id"].tolist() == ["6330311066473698535/00011", "6330311066473698535/00018",
                                         "5535415699068794046/00001"]  # the NF mark is not part of the id
    assert clips["speaker"].tolist() == ["6330311066473698535"] * 2 + ["5535415699068794046"]
    assert clips["split"].tolist() == ["train", "train", "test"]
    assert all(Path(p).is_file() for p in clips["path"]) and (clips["audio_path"] == clips["path"]).all()
    with_pretrain = lrs2.list_clips(tmp_path, splits=["pretrain", "train"])
    assert with_pretrain.iloc[0]["path"].endswith("mvlrs_v1/pretrain/5540944064193452331/00003.mp4")
    with pytest.raises(ValueError, match="unknown LRS2 split"):
        lrs2.list_clips(tmp_path, splits=["dev"])


def test_cncvs_finds_the_wav_beside_and_splits_speakers_stably(tmp_path):
    touch(tmp_path / "news" / "s01" / "video" / "a.mp4")
    wav = touch(tmp_path / "news" / "s01" / "audio" / "a.wav")
    touch(tmp_path / "news" / "s01" / "video" / "b.mp4")  # audio inside the mp4
    for k in range(300):
        touch(tmp_path / "speech" / f"p{k:02d}" / "video" / "x.mp4")
    clips = cncvs.list_clips(tmp_path).set_index("clip_id")
    assert clips.loc["news/s01/a", "audio_path"] == str(wav)
    assert clips.loc["news/s01/b", "audio_path"] == clips.loc["news/s01/b", "path"]
    assert clips.loc["news/s01/a", "speaker"] == "news/s01"
    # one split per speaker, the same as the hash says on any machine, and all three in use
    assert clips.groupby("speaker")["split"].nunique().max() == 1
    assert all(clips.loc[c, "split"] == split_of_speaker(clips.loc[c, "speaker"]) for c in clips.index)
    shares = clips.groupby("speaker")["split"].first().value_counts(normalize=True)
    assert abs(shares["train"] - 0.9) < 0.05 and 0.01 < shares["val"] < 0.1 and 0.01 < shares["test"] < 0.1
    assert (cncvs.list_clips(tmp_path)["split"] == clips["split"].to_numpy()).all()

    filelist = tmp_path / "splits.txt"
    filelist.write_text("# clip split\nnews/s01/a test\n")
    overridden = cncvs.list_clips(tmp_path, split_filelist=filelist).set_index("clip_id")
    assert overridden.loc["news/s01/a", "split"] == "test"
    filelist.write_text("news/s99/zz test\n")
    with pytest.raises(ValueError, match="not in the corpus"):
        cncvs.list_clips(tmp_path, split_filelist=filelist)


def test_folder_takes_the_speaker_from_a_pattern_or_a_csv(tmp_path):
    touch(tmp_path / "alice" / "take 1.mp4")
    touch(tmp_path / "alice" / "notes.txt")
    touch(tmp_path / "bob" / "day2" / "x.MOV")
    clips = folder.list_clips(tmp_path).set_index("clip_id")
    assert sorted(clips.index) == ["alice/take 1", "bob/day2/x"]
    assert clips.loc["bob/day2/x", "speaker"] == "day2"  # the default: the parent folder
    top = folder.list_clips(tmp_path, speaker_pattern=r"^(?P<speaker>[^/]+)/").set_index("clip_id")
    assert top.loc["bob/day2/x", "speaker"] == "bob"
    with pytest.raises(ValueError, match="named group"):
        folder.list_clips(tmp_path, speaker_pattern=r"^([^/]+)/")

    pd.DataFrame({"path": ["alice/take 1.mp4"], "speaker": ["A"], "split": ["val"]}).to_csv(tmp_path / "l.csv",
                                                                                          index=False)
    listed = folder.list_clips(tmp_path, csv=tmp_path / "l.csv")
    assert listed[["clip_id", "speaker", "split"]].values.tolist() == [["alice/take 1", "A", "val"]]
    assert Path(listed.loc[0, "path"]) == tmp_path / "alice" / "take 1.mp4"


def test_every_recipe_is_registered_with_the_same_columns():
    assert set(RECIPES) == {"lrs2", "cncvs", "folder"}
