"""Decode notMNIST_small.tar.gz (`<root>/<A..J>/<name>.png`) into arrays plus a preprocessing report.

The PNGs are read straight from the gzip stream; nothing is extracted to disk. A class-folder file
that cannot be used is skipped and listed with a reason, never silently dropped. Exact duplicates
are removed: one copy is kept when all copies share a label, every copy is dropped when labels
disagree (the pixels cannot say which letter is right).
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.data.splits import pixel_digests

CLASSES = ("A", "B", "C", "D", "E", "F", "G", "H", "I", "J")
IMAGE_SIZE = (28, 28)
# Modes Pillow can turn into RGBA losslessly; the result is accepted only if it is really grey.
_CONVERTIBLE_MODES = {"1", "P", "LA", "RGB", "RGBA"}


@dataclass
class DecodedArchive:
    images: np.ndarray  # uint8, (N, 28, 28)
    labels: np.ndarray  # uint8, (N,), index into CLASSES
    report: dict  # JSON-serialisable preprocessing report


@dataclass
class _Scan:
    """What one pass over the tar found, before sorting and dedupe."""

    members_total: int = 0
    decoded: list = field(default_factory=list)  # (label, member name, pixels)
    skipped: list = field(default_factory=list)  # {"file", "reason"}
    ignored_files: list = field(default_factory=list)  # non-directory members outside class folders


def _class_label(name: str) -> int | None:
    """Label of a member at `<root>/<class>/<file>`, else None."""
    parts = PurePosixPath(name).parts
    if len(parts) == 3 and parts[1] in CLASSES:
        return CLASSES.index(parts[1])
    return None


def _to_grayscale(image: Image.Image) -> np.ndarray | str:
    """8-bit grey pixels, or a reason why this image is not a sensible grayscale image."""
    if image.mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if image.mode not in _CONVERTIBLE_MODES:
        return f"unsupported image mode {image.mode}, expected 8-bit grayscale"
    rgba = np.asarray(image.convert("RGBA"))
    if (rgba[..., 3] != 255).any():
        return f"mode {image.mode} with transparent pixels, expected grayscale"
    if (rgba[..., 0] != rgba[..., 1]).any() or (rgba[..., 0] != rgba[..., 2]).any():
        return f"colour image (mode {image.mode}), expected grayscale"
    return np.ascontiguousarray(rgba[..., 0])


def decode_png(data: bytes) -> np.ndarray | str:
    """(28, 28) uint8 pixels of one PNG file, or a short reason why it was skipped."""
    if not data:
        return "empty file"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                return f"{image.format} image, expected PNG"
            # Checked before decoding the pixels, so an oversized image is never decoded.
            if image.size != IMAGE_SIZE:
                return f"size {image.size[0]}x{image.size[1]}, expected {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}"
            image.load()
            return _to_grayscale(image)
    except UnidentifiedImageError:
        return "cannot identify image file"  # Pillow's own message embeds a memory address
    except Exception as error:  # one bad member (truncated, bad CRC, bomb, ...) must not stop the run
        return f"cannot decode: {type(error).__name__}: {error}"


def _scan_archive(path: Path) -> _Scan:
    """Decode every class-folder file of the tar.gz in one streaming pass."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    scan = _Scan()
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                scan.members_total += 1
                label = _class_label(member.name)
                if member.isdir():
                    continue
                if label is None:
                    scan.ignored_files.append(member.name)
                    continue
                if not member.isfile():
                    result = "not a regular file"
                elif not member.name.lower().endswith(".png"):
                    result = "not a .png file"
                else:
                    result = decode_png(tar.extractfile(member).read())
                if isinstance(result, str):
                    scan.skipped.append({"file": member.name, "reason": result})
                else:
                    scan.decoded.append((label, member.name, result))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ValueError(f"{path}: not a readable tar.gz archive ({type(error).__name__}: {error})") from None
    return scan


def _duplicate_groups(images: np.ndarray) -> list[list[int]]:
    """Indices of each group of two or more pixel-identical images, in input order."""
    groups = defaultdict(list)
    for index, digest in enumerate(pixel_digests(images)):
        groups[digest].append(index)
    return [members for members in groups.values() if len(members) > 1]


def _per_class(labels: np.ndarray) -> dict[str, int]:
    counts = Counter(labels.tolist())
    return {name: counts.get(label, 0) for label, name in enumerate(CLASSES)}


def decode_archive(path: Path) -> DecodedArchive:
    """Decode, sort by (class, member name), and remove exact duplicates; see the module docstring."""
    path = Path(path)
    scan = _scan_archive(path)
    if not scan.decoded and not scan.skipped:
        raise ValueError(
            f"{path}: no files in class folders <root>/{{{','.join(CLASSES)}}}/ - not a notMNIST archive"
        )
    # Tar order depends on how the archive was packed; sorting makes the arrays reproducible.
    scan.decoded.sort(key=lambda item: (item[0], item[1]))
    names = [name for _, name, _ in scan.decoded]
    labels = np.array([label for label, _, _ in scan.decoded], dtype=np.uint8)
    images = np.zeros((len(names), *IMAGE_SIZE), dtype=np.uint8)
    for index, (_, _, pixels) in enumerate(scan.decoded):
        images[index] = pixels

    keep = np.ones(len(labels), dtype=bool)
    same, conflicting = [], []
    for group in _duplicate_groups(images):
        if len(set(labels[group].tolist())) == 1:
            keep[group[1:]] = False  # first in sorted order stays
            same.append(group)
        else:
            keep[group] = False
            conflicting.append(group)

    report = {
        "archive": path.name,
        "members_total": scan.members_total,  # every tar entry, directories included
        "ignored_files": scan.ignored_files,  # files outside <root>/<class>/
        "class_folder_files": len(scan.decoded) + len(scan.skipped),
        "decoded": len(scan.decoded),
        "unreadable": len(scan.skipped),
        "unreadable_files": sorted(scan.skipped, key=lambda item: item["file"]),
        "per_class_decoded": _per_class(labels),
        "duplicates_same_label_removed": sum(len(g) - 1 for g in same),
        "duplicate_groups_same_label": len(same),
        "duplicates_conflicting_label_removed": sum(len(g) for g in conflicting),
        "duplicate_groups_conflicting_label": len(conflicting),
        # Which files were dropped as conflicting, so the removal can be audited.
        "conflicting_label_groups": [[names[i] for i in g] for g in conflicting],
        "kept": int(keep.sum()),
        "per_class_kept": _per_class(labels[keep]),
    }
    return DecodedArchive(images=images[keep], labels=labels[keep], report=report)
