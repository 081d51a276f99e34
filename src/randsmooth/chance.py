"""Degenerate (chance-level) models: one rule for training and the paper artifacts.

A model is **degenerate** when its accuracy is at chance level (:func:`at_chance`): at most the
accuracy of the best constant classifier on the evaluated labels (:func:`chance_accuracy`, the
largest class share) plus half a class share. Training warns about such a model
(:func:`degenerate_warnings`, called by :mod:`randsmooth.train`); the paper tables mark its rows
"(degenerate)" and never bold them, and a claim that reads it is "not measurable here"
(:mod:`randsmooth.papers`). For a smoothed classifier the accuracy is its clean accuracy, i.e. the
certified accuracy at r = 0 (abstentions count as wrong).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

CHANCE_MARGIN = 0.5  # in units of 1 / num_classes above the chance accuracy (see at_chance)
CHANCE_RULE = (
    "clean accuracy (certified accuracy at r = 0) at chance level, i.e. at most the "
    "share of the most frequent class among the test points plus 0.5 / (number of classes) "
    "(0.15 on 10 balanced classes)"
)


def chance_accuracy(labels: Any, num_classes: int) -> float:
    """Accuracy of the best constant classifier on these labels: the largest class share
    (1 / num_classes where no label is given)."""
    labels = np.asarray(labels, dtype=np.int64).ravel()
    if labels.size == 0:
        return 1.0 / num_classes
    return float(np.bincount(labels, minlength=num_classes).max() / labels.size)


def at_chance(accuracy: float, chance: float, num_classes: int) -> bool:
    """Degenerate model: accuracy <= ``chance`` (:func:`chance_accuracy`, what a constant classifier
    scores) + :data:`CHANCE_MARGIN` / num_classes. The margin (0.05 on 10 balanced classes: threshold
    0.15) covers the binomial noise of small test sets (at chance 0.1, sd 0.025 for 150 points, 0.014
    for 450) and classifiers constant on all but a few points; a model that learned digits is >= 0.5.
    One rule for training (:mod:`randsmooth.train` warns) and the paper artifacts (:mod:`randsmooth.papers`)."""
    return bool(accuracy <= chance + CHANCE_MARGIN / num_classes)


def degenerate_warnings(rows: Sequence[Mapping[str, Any]], labels: Any, num_classes: int) -> list[str]:
    """Warnings for the last training-log row's clean and noisy test accuracy (``test_acc``,
    ``noisy_test_acc``: what the smoothed classifier sees) at chance level; ``labels``: the test
    labels (None: 1 / num_classes is the chance accuracy)."""
    if not rows:
        return []
    row = rows[-1]
    chance = chance_accuracy(labels if labels is not None else [], num_classes)
    warnings = []
    for key, what in (("test_acc", "clean test accuracy"), ("noisy_test_acc", "noisy test accuracy")):
        value = float(row.get(key, float("nan")))
        if math.isfinite(value) and at_chance(value, chance, num_classes):
            warnings.append(
                f"degenerate model: {what} {value:.3f} after epoch {row['epoch']} is at chance level "
                f"(<= {chance:.3f} + {CHANCE_MARGIN:g} / {num_classes} classes); its certificates "
                "are not evidence of robustness (paper tables mark it 'degenerate')"
            )
    return warnings
