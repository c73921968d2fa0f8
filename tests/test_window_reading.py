"""Shard reads through the chunk index (shards.RawFrames) and whole-batch reads (WindowDataset's
__getitems__) give exactly what h5py and the one-pair path give."""
import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from unisync_model.io.shards import ShardReader, ShardWriter
from unisync_model.settings import NegativeMix
from unisync_model.training.pairs import training_plan
from unisync_model.training.windows import RankBatches, WindowDataset, window_loader


@pytest.mark.parametrize("dtype, frame", [(np.uint8, (6, 8, 3)), (np.float32, (80,)), (np.float16, (12,))])
def test_chunk_index_reads_match_h5py(tmp_path, dtype, frame):
    rng = np.random.default_rng(0)
    clips = {f"c{k}": (rng.random((n, *frame)) * 200).astype(dtype) for k, n in enumerate((5, 70, 3, 131))}
    with ShardWriter(tmp_path / "s.h5", "x", chunk_frames=16) as writer:
        for clip_id, frames in clips.items():
            writer.add(clip_id, frames)
    reader = ShardReader(tmp_path / "s.h5")
    assert reader._raw is not None  # the fast path is the one under test
    for clip_id, frames in clips.items():
        for start, stop in ((0, len(frames)), (1, min(4, len(frames))), (len(frames) - 2, len(frames))):
            np.testing.assert_array_equal(reader.read(clip_id, start, stop), frames[start:stop])
    np.testing.assert_array_equal(reader.read("c3", 14, 50), clips["c3"][14:50])  # across three chunks
    out = np.empty((5, *frame), dtype)
    reader.read_into("c1", 30, 35, out)
    np.testing.assert_array_equal(out, clips["c1"][30:35])
    with pytest.raises(ValueError):
        reader.read_into("c1", 30, 35, np.empty((5, *frame), np.float64))
    with pytest.raises(IndexError):
        reader.read("c2", 1, 4)


def test_filtered_and_contiguous_data_are_read_through_h5py_or_the_block(tmp_path):
    data = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    for name, options in (("gzip.h5", {"chunks": (8, 3), "compression": "gzip"}), ("plain.h5", {})):
        with h5py.File(tmp_path / name, "w") as f:
            f.create_dataset("data", data=data, **options)
            f.create_dataset("offsets", data=np.array([0, 10, 40]))
            f.create_dataset("clip_id", data=np.array(["a", "b"], dtype=object), dtype=h5py.string_dtype())
            f.create_dataset("info", data=np.array(["", ""], dtype=object), dtype=h5py.string_dtype())
            f.create_dataset("skipped", data=np.array([], dtype=object), dtype=h5py.string_dtype())
        reader = ShardReader(tmp_path / name)
        assert (reader._raw is None) == (name == "gzip.h5")
        np.testing.assert_array_equal(reader.read("b", 3, 9), data[13:19])


def test_batches_hold_the_pairs_of_the_plan(tmp_path):
    rng = np.random.default_rng(1)
    lengths = [40, 60, 25]
    with ShardWriter(tmp_path / "rgb.h5", "rgb") as rgb, ShardWriter(tmp_path / "mel.h5", "mel") as mel:
        for k, n in enumerate(lengths):
            rgb.add(f"c{k}", rng.integers(0, 256, (n, 4, 6, 3), dtype=np.uint8))
            mel.add(f"c{k}", rng.standard_normal((-(-n * 16 // 5) + 1, 80)).astype(np.float32))
    clips = pd.DataFrame({"clip_id": ["c0", "c1", "c2"], "speaker": ["a", "b", "c"], "shard": "000",
                          "first_frame": [0, 3, 0], "windows": [n - 8 for n in lengths]})
    plan = training_plan(clips, 100, np.random.default_rng(2), NegativeMix())
    readers = {"000": ShardReader(tmp_path / "rgb.h5")}, {"000": ShardReader(tmp_path / "mel.h5")}
    dataset = WindowDataset(clips, plan, *readers, "mel")
    for workers in (0, 2):
        batches = list(window_loader(dataset, RankBatches(len(plan), 32, even=False), workers, torch.device("cpu")))
        assert [len(b[2]) for b in batches] == [32, 32, 32, 4]
        visual, audio, label, kind = (torch.cat(parts) for parts in zip(*batches))
        assert visual.dtype == torch.uint8 and audio.dtype == torch.float32 and label.dtype == torch.int64
        empty = dataset.__getitems__([])
        assert empty[0].shape == (0, 5, 4, 6, 3) and empty[1].shape == (0, 16, 80)
        for i in range(len(plan)):
            v, a, y, k = dataset[i]
            assert torch.equal(visual[i], v) and torch.equal(audio[i], a)
            assert (int(label[i]), int(kind[i])) == (y, k)
