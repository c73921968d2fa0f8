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


def settings(section):
    """A config section as JSON for `unisync … --settings`; as a rule param, changing it reruns the rule."""
    return json.dumps(config[section], sort_keys=True)


def shard_files(stage):
    return expand(f"{RESULTS}/shards/{stage}/{{shard}}.h5", shard=SHARDS)


def combination_shards(wildcards):
    return shard_files(wildcards.audio) + shard_files(wildcards.visual)
