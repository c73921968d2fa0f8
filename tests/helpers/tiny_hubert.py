"""A tiny, randomly initialised HuBERT saved the way a hub model directory is (config.json,
model.safetensors, preprocessor_config.json), so tests load it through the same resolver and
`from_pretrained` path as facebook/hubert-base-ls960.

It keeps the real convolutional front-end geometry (kernels 10,3,3,3,3,2,2 and strides 5,2,2,2,2,2,2:
a 400-sample receptive field every 320 samples, 50 Hz at 16 kHz) and the base model's group-norm
feature extractor without conv bias; only the widths and depths are small (conv 16 channels,
hidden 32, 2 transformer layers of 2 heads)."""
from __future__ import annotations

from pathlib import Path

HIDDEN = 32
LAYERS = 2


def make_tiny_hubert(path: str | Path, seed: int = 0, do_normalize: bool | None = False,
                     layers: int = LAYERS) -> Path:
    """Build the tiny model in directory `path` (created) and return it. `do_normalize=None` writes
    no preprocessor_config.json, like a checkpoint that ships without one."""
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = HubertConfig(
        hidden_size=HIDDEN, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_bias=False, feat_extract_norm="group", do_stable_layer_norm=False,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, vocab_size=8)
    torch.manual_seed(seed)
    model = HubertModel(config).eval()
    model.save_pretrained(path)
    if do_normalize is not None:
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                 do_normalize=do_normalize, return_attention_mask=False).save_pretrained(path)
    return path
