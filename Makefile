# Two commands on a fresh machine:
#   make train   creates .venv from requirements.txt when missing, then a ~2-minute CPU run
#   make test    the test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: train test venv clean-outputs

$(PY): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip -q
	$(PY) -m pip install -q -r requirements.txt
	touch $(PY)

venv: $(PY)

# The quick-start preset: NINT on images/01.png at 128x128, 3x128 SIREN, 1000 steps.
train: $(PY)
	$(PY) train_image.py --config config/presets/cpu_quick.yaml

test: $(PY)
	$(PY) -m pytest tests

clean-outputs:
	rm -rf outputs
