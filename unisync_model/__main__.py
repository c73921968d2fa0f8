"""`python -m unisync_model …`: the `unisync` command through a given interpreter. The workflow's rules
run it this way (no need for the environment's bin directory on PATH), and torchrun's `-m unisync_model`."""
from unisync_model.cli import main

if __name__ == "__main__":
    main(prog_name="unisync")
