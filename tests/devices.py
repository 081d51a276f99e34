"""Devices a test runs on: the CPU everywhere, CUDA wherever a GPU is present.

``DEVICES`` parametrises a test over both (the ``cuda`` case carries the ``cuda`` marker and is
skipped without a GPU); :func:`needs_cuda` marks a CUDA-only test the same way. On a GPU machine
``pytest -m cuda`` runs exactly the CUDA cases (``benchmarks/gpu_check.sh`` does).
"""

from __future__ import annotations

import pytest
import torch

CUDA_MARKS = (pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA_MARKS)]


def needs_cuda(test):
    """Mark a CUDA-only test: ``cuda`` marker, skipped without a CUDA device."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test
