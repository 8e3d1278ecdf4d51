"""Turn verified upstream files into the prepared arrays every later stage reads.

data/prepared/<dataset>/
  public.npz    x_train, y_train, x_val, y_val (uint8)  <- what a submission may see
  hidden_x.npy  hidden test inputs (uint8), no labels    <- copied into each sandbox
  hidden_y.npy  hidden test labels (uint8)               <- read only by the trusted scorer
  meta.json     class names, shapes and counts
  report.json   what decoding skipped and de-duplicated (datasets that need it, e.g. notMNIST)

Pixels stay uint8 on disk (4x smaller than float32); scaling is part of a track's schedule and is
applied at training time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import atomic
from pipeline.config import Split
from pipeline.data import splits
from pipeline.data.datasets import mnist, notmnist
from pipeline.data.layout import HIDDEN_X_FILE, HIDDEN_Y_FILE, META_FILE, PUBLIC_FILE, REPORT_FILE


@dataclass
class PreparedData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_hidden: np.ndarray
    y_hidden: np.ndarray
    class_names: list[str]


def split_mnist(raw: dict[str, np.ndarray], split: Split) -> PreparedData:
    """Validation = the *last* fraction of the official training set; hidden = official test set."""
    n_train_total = len(raw["x_train"])
    n_val = int(round(n_train_total * split.validation_fraction))
    cut = n_train_total - n_val
    return PreparedData(
        x_train=raw["x_train"][:cut],
        y_train=raw["y_train"][:cut],
        x_val=raw["x_train"][cut:],
        y_val=raw["y_train"][cut:],
        x_hidden=raw["x_test"],
        y_hidden=raw["y_test"],
        class_names=[str(digit) for digit in range(mnist.NUM_CLASSES)],
    )


NOTMNIST_ARCHIVE = "notMNIST_small.tar.gz"


def split_notmnist(decoded: notmnist.DecodedArchive, split: Split) -> PreparedData:
    """No official test set: a stratified, seeded three-way split of the de-duplicated images."""
    if split.hidden_fraction is None:
        raise ValueError("datasets.notmnist.split.hidden_fraction must be set (no official test set)")
    indices = splits.stratified_split(decoded.labels, split.validation_fraction, split.hidden_fraction, split.seed)
    # The split's indices come sorted, i.e. grouped by class; shuffle each part (seeded) so that
    # any prefix (a track's `subset`, a check's slice) holds every class in proportion.
    rng = np.random.default_rng(split.seed)
    train, validation, hidden = (rng.permutation(part) for part in (indices.train, indices.validation, indices.hidden))
    images, labels = decoded.images, decoded.labels
    return PreparedData(
        x_train=images[train], y_train=labels[train],
        x_val=images[validation], y_val=labels[validation],
        x_hidden=images[hidden], y_hidden=labels[hidden],
        class_names=list(notmnist.CLASSES),
    )


def prepare(dataset_name: str, raw_dir: Path, split: Split) -> tuple[PreparedData, dict]:
    """Decode and split one dataset; returns the arrays and a report for meta.json."""
    if dataset_name == "mnist":
        data, report = split_mnist(mnist.load_raw(raw_dir), split), {}
    elif dataset_name == "notmnist":
        decoded = notmnist.decode_archive(raw_dir / NOTMNIST_ARCHIVE)
        data, report = split_notmnist(decoded, split), decoded.report
    else:
        raise ValueError(f"no preprocessing is defined for dataset {dataset_name!r}")
    # The hidden split must be unseen: no hidden image may be pixel-identical to a public one.
    splits.assert_no_leakage(np.concatenate([data.x_train, data.x_val]), data.x_hidden)
    return data, report


def write_prepared(data: PreparedData, out_dir: Path, report: dict) -> dict:
    """Write the prepared files; inputs and labels of the hidden split go to separate files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.save_npz(out_dir / PUBLIC_FILE, x_train=data.x_train, y_train=data.y_train, x_val=data.x_val,
                    y_val=data.y_val)
    atomic.save_npy(out_dir / HIDDEN_X_FILE, data.x_hidden)
    atomic.save_npy(out_dir / HIDDEN_Y_FILE, data.y_hidden)
    meta = {
        "class_names": data.class_names,
        "num_classes": len(data.class_names),
        "input_shape": list(data.x_train.shape[1:]),
        "counts": {
            "train": int(len(data.x_train)),
            "validation": int(len(data.x_val)),
            "hidden": int(len(data.x_hidden)),
        },
    }
    atomic.write_json(out_dir / META_FILE, meta)
    if report:
        report = {**report, "split_sizes": meta["counts"]}
        atomic.write_json(out_dir / REPORT_FILE, report)
    return meta
