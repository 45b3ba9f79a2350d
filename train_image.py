"""Fit an implicit neural representation to one image.

    python train_image.py                                  # the paper's setting (config/train_image.yaml)
    python train_image.py EXP_CONFIGS.strategy_type=int TRAIN_CONFIGS.iterations=1000
    python train_image.py --config my.yaml DATASET_CONFIGS.file_path=photo.jpg
    python train_image.py --resume outputs/image_01_nint_siren
"""
import sys

from utils.engine.cli import main

if __name__ == "__main__":
    sys.exit(main("image"))
