"""`python -m unisync_model.cli …`: the `unisync` command (torchrun's `-m unisync_model.cli` too)."""
from unisync_model.cli import main

main(prog_name="unisync")
