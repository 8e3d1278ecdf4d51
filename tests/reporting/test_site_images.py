"""What a feedback page says of each image (shown size, data table) is kept between builds, and a
redrawn image is read again."""

import numpy as np

from pipeline.reporting import feedback, site_images
from pipeline.reporting.site_files import SiteFiles


def draw_confusion(path, wrong: int):
    counts = np.eye(3, dtype=int) * 10
    counts[0, 1] = wrong
    feedback.plot_confusion(path, counts, ["a", "b", "c"], "mnist: validation confusion")


def build(feedback_dir, site_dir, cache_dir):
    facts = site_images.ImageFacts(cache_dir)
    images = site_images.feedback_images(feedback_dir, "ann", "mnist", site_dir, "feedback/x", SiteFiles(), facts)
    facts.save()
    return images


def test_image_facts_are_kept_and_a_redrawn_image_is_read_again(tmp_path, monkeypatch):
    folder = tmp_path / "feedback" / "ann"
    folder.mkdir(parents=True)
    draw_confusion(folder / feedback.CONFUSION_PNG, wrong=1)
    cache = tmp_path / "cache"
    first = build(tmp_path / "feedback", tmp_path / "site", cache)
    (image,) = first
    assert image["src"] == "mnist_confusion_matrix.png" and image["width"] == 320
    assert '<th scope="row">a</th>' in image["table"] and ">1</td>" in image["table"]
    assert (cache / site_images.FACTS_FILE).is_file()

    def no_read(*args):
        raise AssertionError("read an image whose facts were kept")

    with monkeypatch.context() as patched:
        patched.setattr(site_images, "_read_facts", no_read)
        assert build(tmp_path / "feedback", tmp_path / "site", cache) == first

    # The grade stage draws a new file for a new result: the page shows the new counts.
    (folder / feedback.CONFUSION_PNG).unlink()
    draw_confusion(folder / feedback.CONFUSION_PNG, wrong=7)
    (again,) = build(tmp_path / "feedback", tmp_path / "site", cache)
    assert ">7</td>" in again["table"] and ">1</td>" not in again["table"]
    assert build(tmp_path / "feedback", tmp_path / "site", None) == [again]  # no cache: the same


def test_an_unreadable_facts_file_is_read_from_the_images(tmp_path):
    folder = tmp_path / "feedback" / "ann"
    folder.mkdir(parents=True)
    draw_confusion(folder / feedback.CONFUSION_PNG, wrong=2)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / site_images.FACTS_FILE).write_text("{not json")
    (image,) = build(tmp_path / "feedback", tmp_path / "site", cache)
    assert ">2</td>" in image["table"]
