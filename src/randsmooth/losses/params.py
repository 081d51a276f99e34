"""Hyper-parameter validation for training methods: one-line errors naming ``method.params.<key>``.

Every constructor of a training method validates each argument with these helpers, so that a bad
config value fails in :func:`randsmooth.losses.get_loss`, before any data is loaded, with a message
such as ``config key 'method.params.epsilon' of training method 'smoothadv' must be a finite
number >= 0, got -1.0``. Run-dependent checks (m, noise, classes) use :func:`run_error`.
"""

from __future__ import annotations

import math
from typing import Any

from ..sampling import Noise


def param_error(method: str, key: str, expected: str, value: Any) -> ValueError:
    """The ValueError for parameter ``key`` of ``method`` that is not ``expected``."""
    where = f"config key 'method.params.{key}' of training method {method!r}"
    return ValueError(f"{where} must be {expected}, got {value!r}")


def number(
    method: str, key: str, value: Any, *, low: float | None = None, high: float | None = None, strict: bool = False
) -> float:
    """A finite real number in [low, high] ((low, high] with ``strict``); returned as float."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or (value > low if strict else value >= low)) and (high is None or value <= high)
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if strict else '>='} {low}")
        if high is not None:
            bounds.append(f"<= {high}")
        raise param_error(method, key, "a finite number" + (" " + " and ".join(bounds) if bounds else ""), value)
    return float(value)


def integer(method: str, key: str, value: Any, *, low: int = 0, high: int | None = None) -> int:
    """An integer (not a bool) in [low, high]."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        raise param_error(method, key, f"an integer >= {low}" + (f" and <= {high}" if high is not None else ""), value)
    return int(value)


def boolean(method: str, key: str, value: Any) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise param_error(method, key, "true or false", value)
    return value


def choice(method: str, key: str, value: Any, options: tuple[str, ...]) -> str:
    """One of ``options``."""
    if value not in options:
        raise param_error(method, key, f"one of {list(options)}", value)
    return value


def run_error(method: str, message: str) -> ValueError:
    """A run-dependent error of ``method`` (``message`` names the config key)."""
    return ValueError(f"training method {method!r}: {message}")


def require_noise(method: str, noise: Noise | None, gaussian: bool = False) -> Noise:
    """The training noise, which ``method`` needs (Gaussian, if ``gaussian``)."""
    if noise is None:
        raise run_error(method, "needs training noise (config key 'noise.sigma' > 0)")
    if gaussian and noise.name != "gaussian":
        raise run_error(method, f"assumes Gaussian noise (its radius term is Gaussian), got noise.name {noise.name!r}")
    return noise


def require_copies(method: str, num_noise: int, minimum: int) -> int:
    """The number m of noisy copies per input (config key ``num_noise``), at least ``minimum``."""
    if num_noise < minimum:
        raise run_error(method, f"needs config key 'num_noise' (noisy copies per input) >= {minimum}, got {num_noise}")
    return num_noise


def teacher_params(method: str, teacher_samples: Any, teacher_seed: Any, teacher: Any) -> tuple[int, int, str | None]:
    """Validated (teacher_samples, teacher_seed, teacher): the soft targets a method expects.

    ``teacher_samples`` and ``teacher_seed`` are checked against the soft-target file
    (:func:`check_teacher`); ``teacher`` is a free-form identity of the teacher model (e.g. its
    content address), only recorded, so that a different teacher gives a different config.
    """
    if teacher is not None and not isinstance(teacher, str):
        raise param_error(method, "teacher", "a string or null", teacher)
    samples = integer(method, "teacher_samples", teacher_samples, low=1)
    return samples, integer(method, "teacher_seed", teacher_seed), teacher


def check_teacher(method: str, expected: tuple[int, int], num_samples: int, seed: int) -> None:
    """Raise unless soft targets made with (num_samples, seed) are the ``expected`` (teacher_samples, teacher_seed)."""
    if (num_samples, seed) != expected:
        raise run_error(
            method,
            f"soft targets were computed with {num_samples} samples and seed {seed}, but "
            f"method.params.teacher_samples = {expected[0]} and teacher_seed = {expected[1]}",
        )
