#!/usr/bin/env bash
# Installs this checkout into the activated conda environment: what every envs/<name>.post-deploy.sh
# runs. Snakemake (--use-conda / --sdm conda) runs a post-deploy script once, right after building the
# environment of the envs/*.yaml file of the same name, with that environment activated, from a copy
# under .snakemake/conda/ and in the working directory: no path relative to the script or to the cwd
# points at the project, so workflow/rules/common.smk exports the project root as UNISYNC_PROJECT_ROOT.
#
# The install is editable, so jobs run the checkout's current code (the environment is rebuilt only
# when its envs/ files change), and without dependencies, which the environment file lists.
set -euo pipefail
root="${UNISYNC_PROJECT_ROOT:?is not set: run this through snakemake, which sets it in workflow/rules/common.smk}"
if [ ! -f "$root/pyproject.toml" ]; then
    echo "UNISYNC_PROJECT_ROOT=$root has no pyproject.toml" >&2
    exit 1
fi
python -m pip install --no-input --no-deps --editable "$root"
