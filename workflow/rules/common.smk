import json

from snakemake.utils import validate

from unisync_model.manifest import shard_names


validate(config, "../schemas/config.schema.yaml")

CORPUS = config["corpus"]["name"]
RESULTS = f"{config['results']}/{CORPUS}"
SHARDS = shard_names(config["corpus"]["shards"])
COMBINATIONS = [(c["audio"], c["visual"]) for c in config["combinations"]]
SEEDS = config["seeds"]


wildcard_constraints:
    shard=r"\d{3}",
    audio=r"[a-z0-9]+",
    visual=r"[a-z0-9]+",
    seed=r"\d+",


def settings(*keys):
    """A config section as JSON for `unisync … --settings`; as a rule param, changing it reruns the rule."""
    section = config
    for key in keys:
        section = section[key]
    return json.dumps(section, sort_keys=True)


def train_settings(wildcards):
    """The train section as JSON, with the margins of this combination's audio representation
    (the paper's best differ: (0.1, 0.3) with Mel, (0.3, 0.7) with HuBERT)."""
    section = dict(config["train"], margins=config["margins"][wildcards.audio])
    return json.dumps(section, sort_keys=True)


def shard_files(stage):
    return expand(f"{RESULTS}/shards/{stage}/{{shard}}.h5", shard=SHARDS)


def combination_shards(wildcards):
    """What training and evaluation read: both representations, and the tracks for the face segments."""
    return shard_files(wildcards.audio) + shard_files(wildcards.visual) + shard_files("tracks")


def parsing_inputs(wildcards):
    """The landmarks backend fills its regions from the landmarks shard; facexlib needs only the track."""
    inputs = {"manifest": f"{RESULTS}/clips.parquet", "tracks": f"{RESULTS}/shards/tracks/{wildcards.shard}.h5"}
    if config["parsing"]["backend"] == "landmarks":
        inputs["landmarks"] = f"{RESULTS}/shards/landmarks/{wildcards.shard}.h5"
    return inputs
