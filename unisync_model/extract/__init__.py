"""Extraction stages. Each turns the clips of one shard into one shard file (see io/shards.py)."""
