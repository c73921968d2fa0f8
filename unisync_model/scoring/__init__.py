"""Scoring the audio-visual sync of any video: the AV offset, its confidence (LSE-C) and the minimum
distance (LSE-D), per face segment and per video, over the embeddings of a scorer (training-free,
unisync or syncnet), and fixing the offset found.

By job: inputs.py (what is named) → videos.py (from files) or shard_route.py (from the extraction
stages' shards) → results.py (the numbers, `score_clip`) → outputs.py (CSV, JSON, plots); scorers/
(the backends), fix.py (shift a video's audio), shift_study.py (does a known shift move the offset?).
"""
