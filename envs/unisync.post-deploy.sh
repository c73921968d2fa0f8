#!/usr/bin/env bash
# Snakemake runs this after building the environment of the envs/*.yaml file of the same name: it
# installs this checkout into it, by envs/install_checkout.sh (the same steps for every environment).
exec bash "${UNISYNC_PROJECT_ROOT:?is not set: run this through snakemake (workflow/rules/common.smk sets it)}/envs/install_checkout.sh"
