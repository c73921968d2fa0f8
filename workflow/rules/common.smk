import json

from snakemake.utils import validate

from unisync_model.manifest import shard_names


validate(config, "../schemas/config.schema.yaml")

CORPUS = config["corpus"]["name"]
RESULTS = f"{config['results']}/{CORPUS}"
SHARDS = shard_names(config["corpus"]["shards"])
COMBINATIONS = [(c["audio"], c["visual"]) for c in config["combinations"]]


wildcard_constraints:
    shard=r"\d{3}",
    audio=r"[a-z0-9]+",
    visual=r"[a-z0-9]+",


def settings(*keys):
    """A config section as JSON for `unisync … --settings`; as a rule param, changing it reruns the rule."""
    section = config
    for key in keys:
        section = section[key]
    return json.dumps(section, sort_keys=True)


def shard_files(stage):
    return expand(f"{RESULTS}/shards/{stage}/{{shard}}.h5", shard=SHARDS)


def combination_shards(wildcards):
    """What training and evaluation read: both representations, and the tracks for the face segments."""
    return shard_files(wildcards.audio) + shard_files(wildcards.visual) + shard_files("tracks")
