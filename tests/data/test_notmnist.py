"""notMNIST decoding, dedupe, stratified split and leakage check."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.data.datasets.notmnist import CLASSES, DecodedArchive, decode_archive
from pipeline.data.splits import assert_no_leakage, stratified_split

REAL_ARCHIVE = Path("/work/shared/data/notmnist/notMNIST_small.tar.gz")


def _png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _glyph(value: int) -> np.ndarray:
    """A distinct 28x28 image per value."""
    pixels = np.full((28, 28), value, dtype=np.uint8)
    pixels[value % 28, :] = 255 - value
    return pixels


def _write_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for directory in ["notMNIST_small/", "notMNIST_small/A/", "notMNIST_small/B/", "notMNIST_small/C/"]:
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def small_archive(tmp_path):
    grey_rgb = np.repeat(_glyph(40)[..., None], 3, axis=2)
    colour = grey_rgb.copy()
    colour[0, 0] = (255, 0, 0)
    # Deliberately not in (class, name) order: decoding must sort.
    files = {
        "notMNIST_small/C/c2.png": _png(_glyph(31)),
        "notMNIST_small/A/a2.png": _png(_glyph(11)),
        "notMNIST_small/A/a1.png": _png(_glyph(10)),
        "notMNIST_small/A/a1_copy.png": _png(_glyph(10)),  # duplicate, same label
        "notMNIST_small/A/shared.png": _png(_glyph(99)),  # duplicate across A and B
        "notMNIST_small/B/shared.png": _png(_glyph(99)),
        "notMNIST_small/B/b1.png": _png(_glyph(20)),
        "notMNIST_small/B/b2.png": _png(_glyph(21)),
        "notMNIST_small/A/corrupt.png": np.random.default_rng(0).bytes(300),
        "notMNIST_small/B/empty.png": b"",
        "notMNIST_small/C/big.png": _png(np.zeros((32, 32), dtype=np.uint8)),
        "notMNIST_small/C/rgb_grey.png": _png(grey_rgb),  # grey stored as RGB: converted
        "notMNIST_small/C/colour.png": _png(colour),
        "notMNIST_small/C/notes.txt": b"hello",
        "notMNIST_small/README": b"not a class folder",
    }
    return _write_tar_gz(tmp_path / "small.tar.gz", files)


def test_decode_small_archive(small_archive):
    decoded = decode_archive(small_archive)
    report = decoded.report

    assert decoded.images.dtype == np.uint8 and decoded.labels.dtype == np.uint8
    expected = [(0, 10), (0, 11), (1, 20), (1, 21), (2, 31), (2, 40)]  # a1, a2, b1, b2, c2, rgb_grey
    assert decoded.labels.tolist() == [label for label, _ in expected]
    np.testing.assert_array_equal(decoded.images, np.stack([_glyph(value) for _, value in expected]))

    assert report["archive"] == "small.tar.gz"
    assert report["members_total"] == 4 + 15
    assert report["ignored_files"] == ["notMNIST_small/README"]
    assert report["decoded"] == 9
    assert report["unreadable"] == 5
    assert report["unreadable_files"] == [
        {"file": "notMNIST_small/A/corrupt.png", "reason": "cannot identify image file"},
        {"file": "notMNIST_small/B/empty.png", "reason": "empty file"},
        {"file": "notMNIST_small/C/big.png", "reason": "size 32x32, expected 28x28"},
        {"file": "notMNIST_small/C/colour.png", "reason": "colour image (mode RGB), expected grayscale"},
        {"file": "notMNIST_small/C/notes.txt", "reason": "not a .png file"},
    ]
    zeros = dict.fromkeys(CLASSES[3:], 0)
    assert report["per_class_decoded"] == {"A": 4, "B": 3, "C": 2, **zeros}
    assert report["duplicates_same_label_removed"] == 1
    assert report["duplicate_groups_same_label"] == 1
    assert report["duplicates_conflicting_label_removed"] == 2
    assert report["duplicate_groups_conflicting_label"] == 1
    assert report["conflicting_label_groups"] == [["notMNIST_small/A/shared.png", "notMNIST_small/B/shared.png"]]
    assert report["kept"] == 6
    assert report["per_class_kept"] == {"A": 2, "B": 2, "C": 2, **zeros}
    json.dumps(report)  # must be JSON-serialisable


def test_conflicting_group_drops_every_copy(tmp_path):
    files = {
        "root/A/x1.png": _png(_glyph(5)),
        "root/A/x2.png": _png(_glyph(5)),
        "root/B/x.png": _png(_glyph(5)),
        "root/B/y.png": _png(_glyph(6)),
    }
    decoded = decode_archive(_write_tar_gz(tmp_path / "t.tar.gz", files))
    assert decoded.labels.tolist() == [1]
    assert decoded.report["duplicates_conflicting_label_removed"] == 3
    assert decoded.report["duplicates_same_label_removed"] == 0


def test_not_a_tar_gz_raises(tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"this is not gzip")
    with pytest.raises(ValueError, match="bogus.tar.gz"):
        decode_archive(bogus)


def test_archive_without_class_folders_raises(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = _png(_glyph(1))
        info = tarfile.TarInfo("photos/cat.png")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match="other.tar.gz"):
        decode_archive(archive)


LABELS = np.repeat(np.arange(3), [50, 31, 97])


def test_stratified_split_preserves_proportions_and_covers_everything():
    split = stratified_split(LABELS, validation_fraction=0.1, hidden_fraction=0.2, seed=0)
    parts = {"train": split.train, "validation": split.validation, "hidden": split.hidden}
    for indices in parts.values():
        assert indices.dtype == np.int64
        assert np.all(np.diff(indices) > 0)  # sorted, no repeats
    everything = np.concatenate(list(parts.values()))
    assert sorted(everything.tolist()) == list(range(len(LABELS)))  # disjoint and covering

    for label in range(3):
        n = int((LABELS == label).sum())
        shares = {"validation": 0.1, "hidden": 0.2, "train": 0.7}
        for name, indices in parts.items():
            assert abs(int((LABELS[indices] == label).sum()) - n * shares[name]) <= 1


def test_stratified_split_is_seeded():
    first = stratified_split(LABELS, 0.1, 0.2, seed=3)
    again = stratified_split(LABELS, 0.1, 0.2, seed=3)
    other = stratified_split(LABELS, 0.1, 0.2, seed=4)
    for name in ("train", "validation", "hidden"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.hidden, other.hidden)


@pytest.mark.parametrize(
    "validation, hidden, seed",
    [(0, 0.2, 0), (0.1, 1.0, 0), (0.5, 0.5, 0), (float("nan"), 0.2, 0), (0.1, 0.2, None)],
)
def test_stratified_split_rejects_bad_arguments(validation, hidden, seed):
    with pytest.raises(ValueError):
        stratified_split(LABELS, validation, hidden, seed)


def test_stratified_split_rejects_tiny_class():
    labels = np.array([0] * 20 + [1] * 3)
    with pytest.raises(ValueError, match="class 1"):
        stratified_split(labels, 0.1, 0.2, seed=0)


def test_assert_no_leakage():
    images = np.stack([_glyph(value) for value in range(20)])
    assert_no_leakage(images[:15], images[15:])
    planted = images[15:].copy()
    planted[[1, 3]] = images[[2, 7]]
    with pytest.raises(ValueError, match="2 of 5 hidden"):
        assert_no_leakage(images[:15], planted)
    with pytest.raises(ValueError, match="pixel layout"):
        assert_no_leakage(images[:15], planted.astype(np.float32))


@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason="real notMNIST_small archive not present")
def test_real_archive():
    decoded = decode_archive(REAL_ARCHIVE)
    report = decoded.report
    assert report["unreadable_files"] == [
        {"file": "notMNIST_small/A/RGVtb2NyYXRpY2FCb2xkT2xkc3R5bGUgQm9sZC50dGY=.png", "reason": "empty file"},
        {"file": "notMNIST_small/F/Q3Jvc3NvdmVyIEJvbGRPYmxpcXVlLnR0Zg==.png", "reason": "empty file"},
    ]
    assert report["decoded"] == 18_724
    assert report["per_class_decoded"] == {
        "A": 1872, "B": 1873, "C": 1873, "D": 1873, "E": 1873,
        "F": 1872, "G": 1872, "H": 1872, "I": 1872, "J": 1872,
    }  # fmt: skip
    assert decoded.images.shape == (report["kept"], 28, 28)
    flat = decoded.images.reshape(len(decoded.images), -1)
    assert len(np.unique(flat, axis=0)) == len(flat)  # no duplicate pixel arrays left

    split = stratified_split(decoded.labels, validation_fraction=0.1, hidden_fraction=0.2, seed=0)
    public = np.concatenate([split.train, split.validation])
    assert_no_leakage(decoded.images[public], decoded.images[split.hidden])


def test_prepared_parts_are_shuffled_so_any_prefix_has_every_class():
    from pipeline.config import Split
    from pipeline.data.preprocess import split_notmnist

    labels = np.repeat(np.arange(10, dtype=np.uint8), 50)  # grouped by class, like the archive
    images = np.stack([np.full((2, 2), i % 256, dtype=np.uint8) + (i // 256) for i in range(500)])
    decoded = DecodedArchive(images=images, labels=labels, report={})
    data = split_notmnist(decoded, Split(validation_fraction=0.1, hidden_fraction=0.2, seed=3))
    assert set(data.y_train[:100].tolist()) == set(range(10))
    assert set(data.y_hidden[:40].tolist()) == set(range(10))
    again = split_notmnist(decoded, Split(validation_fraction=0.1, hidden_fraction=0.2, seed=3))
    np.testing.assert_array_equal(data.y_train, again.y_train)  # still fixed by the seed
