"""Refusing non-finite logits: a NaN or inf logit has no argmax class, so it must never be counted.

``torch.argmax`` of a row holding NaN returns the NaN's index (often class 0), so a model whose
weights are NaN would otherwise "vote" for one class on every noisy input and get certificates.
Counting code maps such rows to an extra column (:func:`votes`) and refuses the example
(:class:`NonFiniteLogitsError`) when that column is not empty.
"""

from __future__ import annotations

import torch


class NonFiniteLogitsError(ValueError):
    """The model returned NaN or inf logits; commands prefix the checkpoint path."""


def votes(logits: torch.Tensor) -> torch.Tensor:
    """Argmax class of each row of ``logits`` (N, K); ``K`` (one past the last class) where a row has
    a NaN or inf. Stays on the device (no synchronisation; usable inside a CUDA graph)."""
    finite = torch.isfinite(logits).all(dim=1)
    return torch.where(finite, logits.argmax(dim=1), logits.shape[1])


def non_finite_error(idx: int, bad: int, total: int) -> NonFiniteLogitsError:
    """The one-line error of example ``idx`` whose ``bad`` of ``total`` noisy inputs gave non-finite logits."""
    return NonFiniteLogitsError(
        f"example {idx}: the model returned non-finite logits (NaN or inf) on {bad} of its {total} noisy "
        "inputs; check the checkpoint's weights and the noise level"
    )
