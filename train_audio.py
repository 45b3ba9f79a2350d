"""Fit an implicit neural representation to one audio clip.

    python train_audio.py                                  # the paper's setting (config/train_audio.yaml)
    python train_audio.py EXP_CONFIGS.strategy_type=int TRAIN_CONFIGS.iterations=1000
    python train_audio.py --config my.yaml DATASET_CONFIGS.file_path=speech.wav
    python train_audio.py --resume outputs/audio_00_nint_siren
"""
import sys

from utils.engine.cli import main

if __name__ == "__main__":
    sys.exit(main("audio"))
