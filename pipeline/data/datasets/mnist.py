"""Decode the four upstream MNIST IDX files (gzip-compressed) into uint8 arrays.

The IDX format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type byte (0x08 = unsigned
byte), the number of dimensions, then one big-endian uint32 per dimension, then the data.
We check every one of those fields so that a truncated or wrong file is a clear error, not a
silently mis-shaped array.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

UNSIGNED_BYTE = 0x08

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
NUM_CLASSES = 10


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file of the expected shape."""


def parse_idx(data: bytes, name: str, expected_ndim: int) -> np.ndarray:
    """Parse IDX bytes strictly; `name` only appears in error messages."""
    if len(data) < 4:
        raise IdxFormatError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero_a, zero_b, data_type, ndim = data[0], data[1], data[2], data[3]
    if zero_a != 0 or zero_b != 0 or data_type != UNSIGNED_BYTE:
        raise IdxFormatError(
            f"{name}: bad magic number 0x{data[:4].hex()} (expected 0x000008{expected_ndim:02x}); "
            "this is not an unsigned-byte IDX file"
        )
    if ndim != expected_ndim:
        raise IdxFormatError(f"{name}: has {ndim} dimensions, expected {expected_ndim}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxFormatError(f"{name}: truncated inside the header ({len(data)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected_bytes = int(np.prod(shape))
    actual_bytes = len(data) - header_size
    if actual_bytes != expected_bytes:
        problem = "truncated" if actual_bytes < expected_bytes else "has trailing bytes"
        raise IdxFormatError(
            f"{name}: {problem}: header says shape {shape} = {expected_bytes} bytes of data, "
            f"file holds {actual_bytes}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def read_idx_gz(path: Path, expected_ndim: int) -> np.ndarray:
    """Decompress and parse one .gz IDX file."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as error:
        raise IdxFormatError(f"{path}: not a readable gzip file ({error})") from None
    return parse_idx(data, str(path), expected_ndim)


def load_images_and_labels(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx_gz(images_path, expected_ndim=3)
    labels = read_idx_gz(labels_path, expected_ndim=1)
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{images_path.name} has {len(images)} images but {labels_path.name} has {len(labels)} labels"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise IdxFormatError(f"{labels_path}: label {labels.max()} is outside 0..{NUM_CLASSES - 1}")
    return images, labels


def load_raw(raw_dir: Path) -> dict[str, np.ndarray]:
    """The official train and test sets from data/raw/mnist/."""
    x_train, y_train = load_images_and_labels(raw_dir / TRAIN_IMAGES, raw_dir / TRAIN_LABELS)
    x_test, y_test = load_images_and_labels(raw_dir / TEST_IMAGES, raw_dir / TEST_LABELS)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
