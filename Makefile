# Two commands on a fresh machine:
#   make train   creates .venv from requirements.txt when missing, then a ~35-second CPU run
#   make test    the test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: train test venv reference clean-outputs

# A stamp file, not .venv/bin/python: that is a symlink to the system interpreter, and
# touching it would change (or fail to change) the interpreter's own timestamp.
STAMP := $(VENV)/.installed

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip -q
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# The quick-start preset: NINT on images/01.png at 128x128, 3x128 SIREN, 1000 steps.
train: $(STAMP)
	$(PY) train_image.py --config config/presets/cpu_quick.yaml

test: $(STAMP)
	$(PY) -m pytest tests

# config/reference.md from the key declarations (task keys, samplers/, models/; a test checks it is current).
reference: $(STAMP)
	$(PY) -m utils.engine.reference

clean-outputs:
	rm -rf outputs
