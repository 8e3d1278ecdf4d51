"""The integrity flag: a hidden-test accuracy far above the validation accuracy, for a person to review.

An honest model meets the hidden test split and the validation split for the first time after
training, so its two accuracies differ only by chance (and by a little dataset shift). A model
that carries the hidden labels (memorised in a graph's constants, say) scores far higher on the
test split than on validation. Both figures come from the grader's own count on the model's
predictions, never from the trainer's report.

The test is Fisher's exact test, one-sided: the chance, were both splits scored at one and the
same accuracy, that the test split would get at least this many right. It is exact for any sample
size and for accuracies near 1.0, where a normal approximation is not.
"""

from __future__ import annotations

import math
from typing import Optional

REVIEW_MESSAGE = "review: hidden-test accuracy far above validation"
# The chance of so large a gap by luck below which a result is flagged (one in a thousand).
MAX_P_VALUE = 0.001
# A gap this small is never flagged, however many images: the validation split (from the training
# files) and the hidden split (MNIST's test files) are not drawn from quite the same pool.
MIN_GAP = 0.01


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def chance_of_gap(test_correct: int, test_size: int, validation_correct: int, validation_size: int) -> float:
    """Fisher's exact one-sided p-value: the chance of `test_correct` or more right on the test
    split if both splits' right answers were spread at random over all their images."""
    total, right = test_size + validation_size, test_correct + validation_correct
    # The hypergeometric tail: k right on the test split, for k from test_correct to its maximum.
    highest = min(right, test_size)
    logs = [_log_choose(right, k) + _log_choose(total - right, test_size - k) for k in range(test_correct, highest + 1)]
    if not logs:
        return 0.0
    peak = max(logs)
    tail = peak + math.log(sum(math.exp(value - peak) for value in logs))
    return min(1.0, math.exp(tail - _log_choose(total, test_size)))


def review(test_accuracy: Optional[float], test_size: int, validation_accuracy: Optional[float],
           validation_size: int) -> Optional[str]:
    """The review message for a hidden-test accuracy far above validation, or None.

    Accuracies are the grader's counts (a mean over seeds is fine: it is rounded to images); sizes
    are the numbers of images each was counted on. None for a result without both figures.
    """
    if test_accuracy is None or validation_accuracy is None or test_size <= 0 or validation_size <= 0:
        return None
    for name, value in (("test_accuracy", test_accuracy), ("validation_accuracy", validation_accuracy)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    if test_accuracy - validation_accuracy <= MIN_GAP:
        return None
    test_correct = round(test_accuracy * test_size)
    validation_correct = round(validation_accuracy * validation_size)
    if chance_of_gap(test_correct, test_size, validation_correct, validation_size) >= MAX_P_VALUE:
        return None
    return (f"{REVIEW_MESSAGE} (test {test_accuracy:.4f} on {test_size:,} images, "
            f"validation {validation_accuracy:.4f} on {validation_size:,})")
