"""Dataset-independent splitting: a seeded stratified split and a pixel-level leakage check."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class SplitIndices:
    """Sorted int64 indices into the dataset's arrays; the three sets are disjoint."""

    train: np.ndarray
    validation: np.ndarray
    hidden: np.ndarray


def pixel_digests(images: np.ndarray) -> list[bytes]:
    """One sha256 digest per image (row along axis 0) of its raw pixel bytes."""
    images = np.ascontiguousarray(images)
    return [hashlib.sha256(row.tobytes()).digest() for row in images]


def _check_fraction(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value < 1):
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")


def stratified_split(
    labels: np.ndarray, validation_fraction: float, hidden_fraction: float, seed: int
) -> SplitIndices:
    """Split every class separately so each split keeps the class proportions.

    Per class c with n_c items: round(n_c * hidden_fraction) go to hidden,
    round(n_c * validation_fraction) to validation, the rest to train. One generator seeded
    with `seed` shuffles the classes in ascending label order, so a seed always gives the same split.
    """
    _check_fraction("validation_fraction", validation_fraction)
    _check_fraction("hidden_fraction", hidden_fraction)
    if validation_fraction + hidden_fraction >= 1:
        raise ValueError(
            f"validation_fraction + hidden_fraction must be < 1 (nothing left to train on), "
            f"got {validation_fraction} + {hidden_fraction}"
        )
    # None would silently give a different split on every run.
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")

    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "hidden": []}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = len(members)
        n_hidden = round(n * hidden_fraction)
        n_validation = round(n * validation_fraction)
        if min(n_hidden, n_validation, n - n_hidden - n_validation) < 1:
            raise ValueError(
                f"class {label.item()!r} has only {n} item(s): too few for at least one item in each of "
                f"train, validation ({validation_fraction}) and hidden ({hidden_fraction})"
            )
        shuffled = rng.permutation(members)
        parts["hidden"].append(shuffled[:n_hidden])
        parts["validation"].append(shuffled[n_hidden : n_hidden + n_validation])
        parts["train"].append(shuffled[n_hidden + n_validation :])

    return SplitIndices(**{name: np.sort(np.concatenate(p)).astype(np.int64) for name, p in parts.items()})


def assert_no_leakage(public_images: np.ndarray, hidden_images: np.ndarray) -> None:
    """Raise ValueError if any hidden image is pixel-identical to a public (train/validation) one.

    A hidden image the submitter has already seen would make the hidden score meaningless.
    """
    public_images, hidden_images = np.asarray(public_images), np.asarray(hidden_images)
    # Byte comparison is only meaningful for the same pixel layout; refuse rather than pass vacuously.
    if public_images.dtype != hidden_images.dtype or public_images.shape[1:] != hidden_images.shape[1:]:
        raise ValueError(
            f"cannot compare public images {public_images.dtype}{public_images.shape[1:]} with "
            f"hidden images {hidden_images.dtype}{hidden_images.shape[1:]}: different pixel layout"
        )
    public = set(pixel_digests(public_images))
    leaked = sum(digest in public for digest in pixel_digests(hidden_images))
    if leaked:
        raise ValueError(
            f"leakage: {leaked} of {len(hidden_images)} hidden image(s) are pixel-identical to a "
            f"public (train/validation) image"
        )


def public_private_split(labels: np.ndarray, public_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Kaggle's public/private division of the hidden split: (public, private) sorted indices.

    Per class c with n_c items, round(n_c * public_fraction) go to the public part (at least one
    when n_c >= 2, and at most n_c - 1, so both parts see every class that can be divided), the
    rest to the private part. Seeded like `stratified_split`: a seed always gives the same parts.
    """
    _check_fraction("public_fraction", public_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size < 2:
        raise ValueError(f"labels must be a 1-D array of at least 2 items, got shape {labels.shape}")
    rng = np.random.default_rng(seed)
    public: list[np.ndarray] = []
    private: list[np.ndarray] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = len(members)
        n_public = min(max(round(n * public_fraction), 1), n - 1) if n >= 2 else round(n * public_fraction)
        shuffled = rng.permutation(members)
        public.append(shuffled[:n_public])
        private.append(shuffled[n_public:])
    return (np.sort(np.concatenate(public)).astype(np.int64), np.sort(np.concatenate(private)).astype(np.int64))
