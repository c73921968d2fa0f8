import h5py
import numpy as np
import pytest

from unisync_model.io.shards import ShardReader, ShardWriter


def test_write_and_read_back(tmp_path):
    path = tmp_path / "rgb" / "000.h5"
    clips = {"a/00001": np.random.rand(7, 4, 3).astype(np.float32), "b/00002": np.random.rand(3, 4, 3).astype(np.float32)}
    with ShardWriter(path, "rgb", {"backend": "test", "settings": {"x": 1}}) as writer:
        for clip_id, frames in clips.items():
            writer.add(clip_id, frames)
        writer.skip("c/00003", "no face")
    reader = ShardReader(path)
    assert reader.clip_ids == list(clips)
    assert reader.skipped == [{"clip_id": "c/00003", "reason": "no face"}]
    assert reader.attrs["stage"] == "rgb" and reader.attrs["backend"] == "test"
    assert list(reader.offsets) == [0, 7, 10]
    for clip_id, frames in clips.items():
        np.testing.assert_array_equal(reader.read(clip_id), frames)
    np.testing.assert_array_equal(reader.read("a/00001", 2, 5), clips["a/00001"][2:5])
    with pytest.raises(IndexError):
        reader.read("b/00002", 1, 4)  # past the clip's end, not into the next clip


def test_failure_inside_the_writer_leaves_no_file(tmp_path):
    path = tmp_path / "000.h5"
    with pytest.raises(RuntimeError):
        with ShardWriter(path, "rgb") as writer:
            writer.add("a", np.zeros((2, 2)))
            raise RuntimeError("killed halfway")
    assert not path.exists()
    assert not list(tmp_path.iterdir())


def test_unfinished_writer_is_not_at_the_final_path(tmp_path):
    path = tmp_path / "000.h5"
    writer = ShardWriter(path, "mel")
    writer.add("a", np.zeros((2, 80), np.float32))
    assert not path.exists() and writer.tmp.exists()
    writer.close()
    assert path.exists() and not writer.tmp.exists()


def test_empty_shard_and_mismatched_frames(tmp_path):
    with ShardWriter(tmp_path / "empty.h5", "mel") as writer:
        writer.skip("a", "no audio stream")
    reader = ShardReader(tmp_path / "empty.h5")
    assert len(reader) == 0 and len(reader.skipped) == 1
    with h5py.File(tmp_path / "empty.h5") as f:
        assert list(f["offsets"]) == [0]
    writer = ShardWriter(tmp_path / "bad.h5", "mel")
    writer.add("a", np.zeros((2, 80), np.float32))
    with pytest.raises(ValueError, match="do not match"):
        writer.add("b", np.zeros((2, 40), np.float32))
    writer.abort()
