"""The training config of ``python -m randsmooth train``: its only schema and defaults (torch-free).

A training config is a mapping (YAML or JSON file) with the keys below; :func:`resolve_config`
checks every key and fills in every default, so the resolved config is complete and can be
hashed (the workflow's content-addressed model folders) and compared (resuming a run). Errors
are one line naming the dotted key, e.g. ``config key 'optimizer.lr' must be a finite number > 0``.

==================  ================================================================================
key                 meaning (default)
==================  ================================================================================
``dataset``         ``name`` (required), ``root`` (None = ``$RANDSMOOTH_DATA_DIR`` or ./data),
                    ``options`` ({}), ``seed`` (None), ``augment`` (None = the data set's default),
                    ``download`` (false)
``model``           ``arch`` (required), ``params`` ({})
``noise``           ``name`` (gaussian), ``sigma`` (required; per-coordinate RMS in [0, 1] pixel
                    units, 0 = clean training), ``params`` ({}), ``space`` (pixel | normalized:
                    noise added before or after the model's Normalize, see
                    :mod:`randsmooth.models.noise_space`; sigma is then in normalised units)
``method``          ``name`` (gaussian), ``params`` ({}): the training loss of randsmooth.losses
``epochs``          required; ``batch_size`` required; ``test_batch_size`` (batch_size)
``num_noise``       noisy copies per input and step, m (1)
``micro_batches``   k: each step's batch split into k micro-batches of ceil(batch_size / k) images
                    whose gradients are accumulated (1; BatchNorm statistics per micro-batch, see
                    :func:`randsmooth.train.accumulated_step`); the workflow raises it to fit the
                    GPU memory (:mod:`randsmooth.pipeline.memory`)
``optimizer``       ``name`` (sgd), ``lr`` (required), ``momentum`` (0.9), ``weight_decay`` (1e-4),
                    ``nesterov`` (false)
``schedule``        ``name`` (required): step (``step_size``, ``gamma`` 0.1), multistep
                    (``milestones``, ``gamma`` 0.1), cosine (``t_max`` = epochs, ``eta_min`` 0),
                    constant
``seed``            seed of every training random stream (0)
``device``          auto | cpu | cuda | cuda:N (auto); ``workers`` loader processes (2);
                    ``threads`` torch CPU threads (None); ``amp`` CUDA mixed precision (false);
                    ``eval_examples`` test images evaluated per epoch (None = all)
==================  ================================================================================
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# where the noise is added (randsmooth.models.noise_space): before or after the model's Normalize
NOISE_SPACES = ("pixel", "normalized")
# keys that may change between a run and its resumption (they do not affect the trained weights)
RESUMABLE_CHANGES = ("device", "workers", "threads", "test_batch_size")

# ---------------------------------------------------------------------------------------- config
_REQUIRED = object()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass(frozen=True)
class _Check:
    """A config-value validator: ``accepts(value)`` and the phrase used in error messages."""

    accepts: Callable[[Any], bool]
    expected: str
    convert: Callable[[Any], Any] = copy.deepcopy  # numbers become floats, so 1 and 1.0 hash alike


def _int(low: int, high: int | None = None) -> _Check:
    if high is None:
        return _Check(lambda v: _is_int(v) and v >= low, f"an integer >= {low}")
    return _Check(lambda v: _is_int(v) and low <= v <= high, f"an integer in [{low}, {high}]")


def _number(low: float, strict: bool) -> _Check:
    return _Check(
        lambda v: _is_number(v) and (v > low if strict else v >= low),
        f"a finite number {'>' if strict else '>='} {low}",
        float,
    )


def _optional(check: _Check) -> _Check:
    return _Check(lambda v: v is None or check.accepts(v), f"{check.expected} or null", check.convert)


_STR = _Check(lambda v: isinstance(v, str), "a string")
_BOOL = _Check(lambda v: isinstance(v, bool), "true or false")
_DICT = _Check(lambda v: isinstance(v, dict), "a mapping")
_NOISE_SPACE = _Check(lambda v: v in NOISE_SPACES, f"one of {list(NOISE_SPACES)}")
_MILESTONES = _Check(
    lambda v: isinstance(v, list) and len(v) > 0 and all(_is_int(m) and m >= 1 for m in v) and v == sorted(set(v)),
    "a non-empty increasing list of integers >= 1",
)

SEED_MAX = 2**63 - 1  # torch.manual_seed and the int64 of the count table
SPLIT_SEED_MAX = 2**32 - 1  # numpy / scikit-learn random_state of the data set splits
# key -> (default, check) or a nested schema; _REQUIRED marks keys without default
CONFIG_SCHEMA: dict[str, Any] = {
    "dataset": {
        "name": (_REQUIRED, _STR),
        "root": (None, _optional(_STR)),
        "options": ({}, _DICT),
        "seed": (None, _optional(_int(0, SPLIT_SEED_MAX))),
        "augment": (None, _optional(_BOOL)),
        "download": (False, _BOOL),
    },
    "model": {"arch": (_REQUIRED, _STR), "params": ({}, _DICT)},
    "noise": {
        "name": ("gaussian", _STR),
        "sigma": (_REQUIRED, _number(0.0, strict=False)),
        "params": ({}, _DICT),
        "space": ("pixel", _NOISE_SPACE),
    },
    "method": {"name": ("gaussian", _STR), "params": ({}, _DICT)},
    "epochs": (_REQUIRED, _int(1)),
    "batch_size": (_REQUIRED, _int(1)),
    "test_batch_size": (None, _optional(_int(1))),
    "num_noise": (1, _int(1)),
    "micro_batches": (1, _int(1)),
    "optimizer": {
        "name": ("sgd", _STR),
        "lr": (_REQUIRED, _number(0.0, strict=True)),
        "momentum": (0.9, _number(0.0, strict=False)),
        "weight_decay": (1e-4, _number(0.0, strict=False)),
        "nesterov": (False, _BOOL),
    },
    "schedule": {"name": (_REQUIRED, _STR)},  # the remaining keys depend on the name, see _SCHEDULES
    "seed": (0, _int(0, SEED_MAX)),
    "device": ("auto", _STR),
    "workers": (2, _int(0)),
    "threads": (None, _optional(_int(1))),
    "amp": (False, _BOOL),
    "eval_examples": (None, _optional(_int(1))),
}
_SCHEDULES: dict[str, dict[str, Any]] = {
    "step": {"step_size": (_REQUIRED, _int(1)), "gamma": (0.1, _number(0.0, strict=True))},
    "multistep": {"milestones": (_REQUIRED, _MILESTONES), "gamma": (0.1, _number(0.0, strict=True))},
    "cosine": {"t_max": (None, _optional(_int(1))), "eta_min": (0.0, _number(0.0, strict=False))},
    "constant": {},
}
_OPTIMIZERS = ("sgd",)
# The keys of a workflow recipe (config/schema.yaml, `recipes`): the training config without what a
# model entry says (dataset, model, noise, method) and the job's runtime keys; `augment` is the
# training set's augmentation (dataset.augment).
RECIPE_KEYS = (
    "epochs",
    "batch_size",
    "test_batch_size",
    "num_noise",
    "micro_batches",
    "optimizer",
    "schedule",
    "seed",
    "workers",
    "amp",
    "eval_examples",
    "augment",
)


def _resolve_section(raw: Any, schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"config key {prefix.rstrip('.') or '<root>'!r} must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise ValueError(f"unknown config key {prefix + str(unknown[0])!r}; expected one of {sorted(schema)}")
    out: dict[str, Any] = {}
    for key, rule in schema.items():
        if isinstance(rule, dict):
            if key not in raw:
                raise ValueError(f"config is missing required key {prefix + key!r}")
            out[key] = _resolve_section(raw[key], rule, f"{prefix}{key}.")
            continue
        default, check = rule
        if key not in raw:
            if default is _REQUIRED:
                raise ValueError(f"config is missing required key {prefix + key!r}")
            out[key] = copy.deepcopy(default)
            continue
        if not check.accepts(raw[key]):
            raise ValueError(f"config key {prefix + key!r} must be {check.expected}, got {raw[key]!r}")
        out[key] = None if raw[key] is None else check.convert(raw[key])
    return out


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a training config and fill in every default; returns a new plain dict.

    Raises ``ValueError`` naming the first missing, unknown or invalid key (dotted path).
    """
    raw = copy.deepcopy(config)
    schedule_raw = raw.get("schedule") if isinstance(raw, dict) else None
    if isinstance(schedule_raw, dict):  # validate the name first, then its own keys
        name = schedule_raw.get("name", _REQUIRED)
        if name is _REQUIRED:
            raise ValueError("config is missing required key 'schedule.name'")
        if name not in _SCHEDULES:
            raise ValueError(f"config key 'schedule.name' must be one of {sorted(_SCHEDULES)}, got {name!r}")
        raw["schedule"] = {"name": name}
    cfg = _resolve_section(raw, CONFIG_SCHEMA, "")
    if isinstance(schedule_raw, dict):
        rest = {k: v for k, v in schedule_raw.items() if k != "name"}
        cfg["schedule"].update(_resolve_section(rest, _SCHEDULES[cfg["schedule"]["name"]], "schedule."))
    if cfg["optimizer"]["name"] not in _OPTIMIZERS:
        raise ValueError(
            f"config key 'optimizer.name' must be one of {list(_OPTIMIZERS)}, got {cfg['optimizer']['name']!r}"
        )
    if cfg["optimizer"]["nesterov"] and cfg["optimizer"]["momentum"] <= 0:
        raise ValueError("config key 'optimizer.nesterov' requires optimizer.momentum > 0")
    if cfg["micro_batches"] > cfg["batch_size"]:
        raise ValueError(
            f"config key 'micro_batches' must be at most batch_size ({cfg['batch_size']}), got {cfg['micro_batches']}"
        )
    if cfg["test_batch_size"] is None:
        cfg["test_batch_size"] = cfg["batch_size"]
    if cfg["schedule"]["name"] == "cosine" and cfg["schedule"]["t_max"] is None:
        cfg["schedule"]["t_max"] = cfg["epochs"]
    return cfg


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML or JSON training config file into a plain dict (not yet validated)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot parse config ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: config must be a mapping at the top level, got {type(data).__name__}")
    return data


def comparable(cfg: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in cfg.items() if key not in RESUMABLE_CHANGES}


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    diffs = []
    for key in keys:
        a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs
