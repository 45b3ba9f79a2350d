"""Fit an implicit neural representation to one 3D shape (its signed distance function).

    python train_sdf.py                                  # the paper's setting (config/train_sdf.yaml)
    python train_sdf.py EXP_CONFIGS.strategy_type=int TRAIN_CONFIGS.iterations=1000
    python train_sdf.py --config my.yaml DATASET_CONFIGS.file_path=scan.ply DATASET_CONFIGS.render_resolution=256
    python train_sdf.py --resume outputs/sdf_armadillo_nint_siren
"""
import sys

from utils.engine.cli import main

if __name__ == "__main__":
    sys.exit(main("sdf"))
