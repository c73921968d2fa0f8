# make demo: install everything, then run the whole workflow on the embedded demo corpus.
# make test: install everything, then run the whole test suite (what CI runs); `-rs` lists every skip with its reason.
# make test-fast: the same without the tests marked slow (the workflow end to end and the other long runs).
# Any python3 >= 3.10 will do (make PYTHON=python3.12 picks another); the venv is built from it once.
PYTHON ?= python3
VENV := .venv
PYTHON_OK := $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info >= (3, 10)))' 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The small real model files beside the project (../shared/weights), when they are there; elsewhere
# the weights resolver fetches YuNet from its upstream address into ~/.cache/unisync/weights.
SHARED_WEIGHTS := $(wildcard $(CURDIR)/../shared/weights)
ifneq ($(SHARED_WEIGHTS),)
export UNISYNC_WEIGHTS ?= $(abspath $(SHARED_WEIGHTS))
endif

.PHONY: install system demo test test-fast clean python

python:
ifneq ($(PYTHON_OK),1)
	$(error UniSync needs Python >= 3.10, and '$(PYTHON)' is $(if $(PYTHON_OK),$(shell $(PYTHON) --version 2>&1),not found). \
	  Install one (Debian/Ubuntu: sudo apt-get install python3 python3-venv; or pyenv install 3.12) \
	  and run make PYTHON=/path/to/python3.x)
endif

system: python
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
	pytest -q -rs

test-fast: install
	pytest -q -rs -m "not slow"

clean:
	rm -rf results data .snakemake
