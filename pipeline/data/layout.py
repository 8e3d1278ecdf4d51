"""The prepared-data layout: file names and readers of data/prepared/<dataset>/.

    public.npz    x_train, y_train, x_val, y_val (uint8)  <- what a submission may see
    hidden_x.npy  hidden test inputs (uint8), no labels    <- copied into each sandbox
    hidden_y.npy  hidden test labels (uint8)               <- read only by the trusted scorer
    meta.json     class names, shapes and counts
    report.json   what decoding skipped and de-duplicated (datasets that need it, e.g. notMNIST)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PUBLIC_FILE = "public.npz"
HIDDEN_X_FILE = "hidden_x.npy"
HIDDEN_Y_FILE = "hidden_y.npy"
META_FILE = "meta.json"
REPORT_FILE = "report.json"
PUBLIC_ARRAYS = ("x_train", "y_train", "x_val", "y_val")


def load_public(prepared_dir: Path) -> dict[str, np.ndarray]:
    with np.load(prepared_dir / PUBLIC_FILE) as archive:
        return {key: archive[key] for key in PUBLIC_ARRAYS}


def load_meta(prepared_dir: Path) -> dict:
    return json.loads((prepared_dir / META_FILE).read_text())


def is_prepared(prepared_dir: Path) -> bool:
    return (prepared_dir / META_FILE).exists()
