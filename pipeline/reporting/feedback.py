"""Feedback for students, per graded submission: learning curves, a confusion matrix and a grid
of misclassified images, all from the training history and the *validation* split.

The images are drawn for the width the course site shows them at (DISPLAY_WIDTH_PX, a phone's
column) at twice that resolution, with text of at least 11 px there. Each carries its own data
(the curves' values, the counts, the misclassified images' classes) as a table in a PNG text
chunk, which the site offers beside the image: inside the file, so that the site reads one file
per image, and only its first chunks.

Nothing here reads hidden labels: the hidden split only ever contributes the aggregate score.
The images are titled by track only, never by submission: the course site publishes these very
files on each student's feedback page (site.py checks the ID_FREE mark before it does).
Files, logged to MLflow with the run (not DVC outputs: docs/instructors/outputs.md):

    feedback/<track>/<submission>/
      history.csv            epoch, loss, accuracy, val_loss, val_accuracy
      learning_curves.png    train and validation loss and accuracy per epoch
      confusion_matrix.png   validation counts, true class by predicted class
      misclassified.png      up to MAX_MISCLASSIFIED validation images the model gets wrong
      confusion.csv          actual, predicted: one row per validation image
"""

from __future__ import annotations

import csv
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

# Figures are made with the object API (matplotlib.figure.Figure), not pyplot: pyplot keeps global
# state, and submissions are graded (and their feedback drawn) in parallel threads. matplotlib is
# imported where a figure is drawn: the site reads these images' facts without drawing anything.

HISTORY_FILE = "history.csv"
CURVES_PNG = "learning_curves.png"
CONFUSION_PNG = "confusion_matrix.png"
MISCLASSIFIED_PNG = "misclassified.png"
TABLE_KEY = "gradebench-table"  # PNG text chunk: the image's data as JSON rows, header first
HISTORY_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy")
MAX_MISCLASSIFIED = 25
TILE_GAP = 2  # pixels between the misclassified images in their grid
# Shown 4 inches wide at 80 CSS px per inch (320 px: fits a 360 px phone), drawn at twice that.
SHOWN_PX_PER_INCH = 80
DPI = 2 * SHOWN_PX_PER_INCH
WIDTH_IN = 4.0
FONT_PT = 10  # 11.1 px as shown
# PNG text chunk written into every image drawn here: "no submission id in this picture". Images
# from older versions (titled by submission) lack it, and the site does not publish them.
ID_FREE_KEY, ID_FREE_VALUE = "Description", "gradebench feedback, titled by track only"


def save_png(figure, path: Path, table: Optional[list[list]] = None) -> None:
    metadata = {ID_FREE_KEY: ID_FREE_VALUE}
    if table:
        metadata[TABLE_KEY] = json.dumps(table)  # ASCII, so a plain tEXt chunk
    figure.savefig(path, dpi=DPI, metadata=metadata)


def _style():
    import matplotlib

    return matplotlib.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT, "figure.titlesize": FONT_PT + 1,
                                  "xtick.labelsize": FONT_PT, "ytick.labelsize": FONT_PT, "legend.fontsize": FONT_PT})


@dataclass
class ImageFacts:
    width: int  # CSS px it was drawn to be shown at
    height: int
    table: Optional[list[list]]  # its data, header first (None: drawn before tables were kept)


def image_facts(path: Path) -> Optional[ImageFacts]:
    """What the site needs of a feedback PNG, from the chunks before its pixels: the size it was
    drawn to be shown at (its pixels at its own resolution, pHYs; images drawn at 80 dpi by older
    versions are shown at their own size) and its data table. None if it is not a PNG."""
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            width = height = 0
            dpi, table = float(SHOWN_PX_PER_INCH), None
            while True:
                header = handle.read(8)
                if len(header) < 8:
                    break
                length, kind = struct.unpack(">I4s", header)
                if kind in (b"IDAT", b"IEND") or length > 1 << 20:
                    break
                body = handle.read(length)
                handle.seek(4, 1)  # the chunk's CRC
                if kind == b"IHDR":
                    width, height = struct.unpack(">II", body[:8])
                elif kind == b"pHYs":
                    per_metre, _, unit = struct.unpack(">IIB", body[:9])
                    if unit == 1 and per_metre:
                        dpi = per_metre * 0.0254
                elif kind == b"tEXt" and body.startswith(TABLE_KEY.encode() + b"\0"):
                    table = json.loads(body[len(TABLE_KEY) + 1:].decode("latin-1"))
    except (OSError, ValueError, struct.error):
        return None
    scale = SHOWN_PX_PER_INCH / dpi
    return ImageFacts(round(width * scale), round(height * scale), table)


def is_id_free(path: Path) -> bool:
    """Whether `path` is a PNG drawn here (titled by track only), from its text chunk."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.info.get(ID_FREE_KEY) == ID_FREE_VALUE
    except (OSError, ValueError):
        return False


def warm_up() -> None:
    """Draw one small figure with text: loads fonts and the PNG writer (a few hundred ms the first
    time), so that `grade` does it in the background while the first training runs."""
    import io

    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1))
    figure.add_subplot().set_title("warm-up → 0.9")
    figure.savefig(io.BytesIO(), format="png", dpi=DPI)


def write_history(path: Path, history: dict) -> None:
    epochs = len(history.get("loss", []))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *HISTORY_COLUMNS])
        for epoch in range(epochs):
            writer.writerow([epoch + 1, *(_at(history.get(key), epoch) for key in HISTORY_COLUMNS)])


def _rounded(value):
    return round(value, 4) if isinstance(value, float) and np.isfinite(value) else (value if value != "" else None)


def _at(values: Optional[list], index: int):
    return values[index] if values is not None and index < len(values) else ""


def plot_learning_curves(path: Path, history: dict, title: str) -> None:
    with _style():
        _plot_learning_curves(path, history, title)


def _plot_learning_curves(path: Path, history: dict, title: str) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    # Loss above accuracy (not side by side): the column they are shown in is a phone's.
    figure = Figure(figsize=(WIDTH_IN, 5.2))
    axes = figure.subplots(2, 1)
    for axis, key in zip(axes, ("loss", "accuracy")):
        # Blue circles and dashed amber squares: told apart without colour, both over 3:1 on white.
        for prefix, label, colour, style in (("", "train", "#1d4ed8", "-o"), ("val_", "validation", "#b45309", "--s")):
            if history.get(prefix + key):
                axis.plot(epochs, history[prefix + key], style, color=colour, label=label)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    # Fixed margins rather than tight_layout, which draws the figure an extra time to measure it
    # (a third of the plot's cost, on every grading).
    figure.subplots_adjust(left=0.17, right=0.97, bottom=0.09, top=0.91, hspace=0.42)
    table = [["epoch", *HISTORY_COLUMNS]] + [[epoch + 1, *(_rounded(_at(history.get(key), epoch)) for key in HISTORY_COLUMNS)]
                                             for epoch in range(len(epochs))]
    save_png(figure, path, table)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return counts


def plot_confusion(path: Path, counts: np.ndarray, class_names: list[str], title: str) -> None:
    with _style():
        _plot_confusion(path, counts, class_names, title)


def _plot_confusion(path: Path, counts: np.ndarray, class_names: list[str], title: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, WIDTH_IN + 0.3))
    axis = figure.subplots()
    axis.imshow(counts, cmap="Blues")
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names)
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = counts.max() / 2 if counts.size else 0
    for true_index in range(counts.shape[0]):
        for predicted_index in range(counts.shape[1]):
            value = counts[true_index, predicted_index]
            if value:
                axis.text(predicted_index, true_index, str(value), ha="center", va="center",
                          fontsize=FONT_PT if value < 1000 else FONT_PT - 2,
                          color="white" if value > threshold else "black")
    axis.set_title(title)
    figure.subplots_adjust(left=0.13, right=0.98, bottom=0.11, top=0.91)
    table = [["true \\ predicted", *class_names]] + [[name, *(int(value) for value in row)]
                                                      for name, row in zip(class_names, counts)]
    save_png(figure, path, table)


def tile(images: np.ndarray, columns: int, pad: int = TILE_GAP) -> np.ndarray:
    """The images as one grid array (white gaps): one imshow instead of 25 subplots, which took
    over a second per submission (py-spy) on the grading critical path."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    height, width = images.shape[1:3] if len(images) else (28, 28)
    grid = np.full((rows * (height + pad), columns * (width + pad)), np.nan, dtype=np.float32)
    for position, image in enumerate(images):
        row, column = divmod(position, columns)
        top, left = row * (height + pad), column * (width + pad)
        grid[top:top + height, left:left + width] = image
    return grid


def plot_misclassified(path: Path, images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                       class_names: list[str], title: str) -> None:
    with _style():
        _plot_misclassified(path, images, misclassified(y_true, y_pred), y_true, y_pred, class_names, title)


def misclassified(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Positions of the validation images the grid shows: the first MAX_MISCLASSIFIED wrong ones."""
    return np.flatnonzero(y_true != y_pred)[:MAX_MISCLASSIFIED]


def _plot_misclassified(path: Path, images: np.ndarray, wrong: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                        class_names: list[str], title: str) -> None:
    from matplotlib.figure import Figure

    columns = 5
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    height_in = rows * 0.95 + 0.5
    figure = Figure(figsize=(WIDTH_IN, height_in))
    axis = figure.add_axes((0.01, 0.01, 0.98, 0.98 - 0.45 / height_in))
    axis.axis("off")
    if len(wrong):
        picked = images[wrong].astype(np.float32)
        height, width = picked.shape[1:3]
        axis.imshow(tile(picked, columns), cmap="gray")
        for position, index in enumerate(wrong):
            row, column = divmod(position, columns)
            # Captions in the gap above each image (image coordinates: y grows downwards).
            axis.text(column * (width + TILE_GAP) + width / 2, row * (height + TILE_GAP) + 1.5,
                      f"{class_names[y_true[index]]} → {class_names[y_pred[index]]}", ha="center", va="top",
                      fontsize=FONT_PT, color="#b91c1c", bbox={"facecolor": "white", "alpha": 0.85, "pad": 1, "lw": 0})
    else:
        axis.text(0.5, 0.5, "no misclassified validation images", ha="center", va="center")
    figure.suptitle(f"{title}\n(true → predicted)")
    table = [["image", "true", "predicted"]] + [[position + 1, class_names[y_true[index]], class_names[y_pred[index]]]
                                                for position, index in enumerate(wrong)]
    save_png(figure, path, table)


def feedback_jobs(out_dir: Path, confusion_path: Path, title: str, history: Optional[dict], x_val: np.ndarray,
                  y_val: np.ndarray, val_outputs: Optional[np.ndarray], class_names: list[str]) -> list[tuple]:
    """Clear the submission's old feedback and return the drawings its inputs allow, as
    (function, arguments) pairs that may run anywhere, in any order: their inputs are small (the
    misclassified images only, not the validation set) and each returns the files it wrote.
    `title`: the track's name (the images are published on the site as they are)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        old.unlink()
    confusion_path.unlink(missing_ok=True)
    jobs: list[tuple] = []
    if history and history.get("loss"):
        jobs.append((_write_curves, (out_dir, history, title)))
    if val_outputs is not None and val_outputs.shape == (len(y_val), len(class_names)) \
            and np.all(np.isfinite(val_outputs)):
        predicted = val_outputs.argmax(axis=1)
        jobs.append((_write_confusion, (out_dir, confusion_path, y_val, predicted, class_names, title)))
        wrong = misclassified(y_val, predicted)
        jobs.append((_write_misclassified, (out_dir, x_val[wrong], y_val[wrong], predicted[wrong], class_names, title)))
    return jobs


def write_feedback(*args) -> list[Path]:
    """Write every feedback file that the available inputs allow (feedback_jobs' arguments), here;
    returns the files written."""
    return [path for draw, job_args in feedback_jobs(*args) for path in draw(*job_args)]


def _write_curves(out_dir: Path, history: dict, title: str) -> list[Path]:
    write_history(out_dir / HISTORY_FILE, history)
    plot_learning_curves(out_dir / CURVES_PNG, history, f"{title}: learning curves")
    return [out_dir / HISTORY_FILE, out_dir / CURVES_PNG]


def _write_confusion(out_dir: Path, confusion_path: Path, y_val: np.ndarray, predicted: np.ndarray,
                     class_names: list[str], title: str) -> list[Path]:
    confusion_path.parent.mkdir(parents=True, exist_ok=True)
    with open(confusion_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["actual", "predicted"])
        writer.writerows((class_names[true], class_names[guess]) for true, guess in zip(y_val, predicted))
    counts = confusion_counts(y_val, predicted, len(class_names))
    accuracy = float(np.trace(counts) / max(1, counts.sum()))
    plot_confusion(out_dir / CONFUSION_PNG, counts, class_names, f"{title}: validation confusion (accuracy {accuracy:.3f})")
    return [confusion_path, out_dir / CONFUSION_PNG]


def _write_misclassified(out_dir: Path, images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                         class_names: list[str], title: str) -> list[Path]:
    """`images`: the misclassified ones only (`misclassified`), with their classes."""
    plot_misclassified(out_dir / MISCLASSIFIED_PNG, images, y_true, y_pred, class_names,
                       f"{title}: misclassified validation images")
    return [out_dir / MISCLASSIFIED_PNG]
