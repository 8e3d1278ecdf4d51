"""Strict IDX parsing: real files decode to the known counts; broken files give clear errors."""

import gzip
import struct

import numpy as np
import pytest

from pipeline.data.datasets import mnist
from pipeline.data.datasets.mnist import IdxFormatError, parse_idx
from tests.helpers import MIRROR

SHARED_MNIST = MIRROR / "mnist"


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parse_round_trip():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images), "x", expected_ndim=3), images)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda data: data[:-5], "truncated"),
        (lambda data: data + b"\x00", "trailing bytes"),
        (lambda data: b"\x00\x00\x0d" + data[3:], "bad magic number"),
        (lambda data: data[:6], "truncated inside the header"),
        (lambda data: b"\x00\x00", "too short"),
    ],
)
def test_broken_files_are_clear_errors(mutate, message):
    good = idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))
    with pytest.raises(IdxFormatError, match=message):
        parse_idx(mutate(good), "train-images", expected_ndim=3)


def test_wrong_dimensions_named():
    labels = idx_bytes(np.zeros(5, dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="has 1 dimensions, expected 3"):
        parse_idx(labels, "labels-as-images", expected_ndim=3)


def test_not_gzip_is_clear_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(IdxFormatError, match="not a readable gzip file"):
        mnist.read_idx_gz(path, expected_ndim=3)


def test_count_mismatch_between_images_and_labels(tmp_path):
    (tmp_path / "i.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((3, 2, 2)))))
    (tmp_path / "l.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(2))))
    with pytest.raises(IdxFormatError, match="3 images but l.gz has 2 labels"):
        mnist.load_images_and_labels(tmp_path / "i.gz", tmp_path / "l.gz")


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="real MNIST files not available")
def test_real_mnist_decodes_to_known_counts():
    raw = mnist.load_raw(SHARED_MNIST)
    assert raw["x_train"].shape == (60000, 28, 28) and raw["x_train"].dtype == np.uint8
    assert raw["x_test"].shape == (10000, 28, 28)
    assert np.bincount(raw["y_train"]).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(raw["y_test"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert raw["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
