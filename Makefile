# make demo: install everything, then run the whole workflow on the embedded demo corpus.
# make test: install everything, then run the test suite (what CI runs).
PYTHON ?= python3.11
VENV := .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The small real model files beside the project (../shared/weights), when they are there; elsewhere
# the weights resolver fetches YuNet from its upstream address into ~/.cache/unisync/weights.
SHARED_WEIGHTS := $(wildcard $(CURDIR)/../shared/weights)
ifneq ($(SHARED_WEIGHTS),)
export UNISYNC_WEIGHTS ?= $(abspath $(SHARED_WEIGHTS))
endif

.PHONY: install system demo test clean

system:
	@command -v ffmpeg >/dev/null && command -v espeak-ng >/dev/null && $(PYTHON) -m venv --help >/dev/null \
	  && ldconfig -p | grep -q libGL.so.1 \
	  || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends ffmpeg espeak-ng python3-venv \
	       libgl1 libglib2.0-0)

$(VENV)/.installed: pyproject.toml | system
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	snakemake --cores 8 train_all
	@cat results/demo/table.md

test: install
	pytest -q

clean:
	rm -rf results data .snakemake
