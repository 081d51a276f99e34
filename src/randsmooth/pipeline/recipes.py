"""The training config of a workflow model: its recipe, data set, architecture, noise and method.

A model entry names a recipe (or gives one inline) and says what the recipe does not: the data set,
the architecture, the training noise and the method. :func:`model_train_config` puts them together
and resolves every default with :mod:`randsmooth.train_config` (the content of ``recipe.json``, the
model's identity); :func:`soft_targets` says which teacher file a method trains with.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .. import train_config
from .checks import get
from .entries import DatasetEntry, SoftTargets


def model_train_config(
    recipes: Mapping[str, Any], dataset: DatasetEntry, raw: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """The complete ``randsmooth train`` config of a model (every default resolved).

    ``dataset.root`` is None (the rule passes the folder via ``RANDSMOOTH_DATA_DIR``) and
    ``download`` False (the prepare_data rule downloads); device and threads are set per job.
    """
    recipe, recipe_where = raw["recipe"], f"{where}/recipe"
    if isinstance(recipe, str):
        recipe_where = f"recipes/{recipe}"
        recipe = get(recipes, recipe, "recipe", f"config key '{where}/recipe': unknown")
    unknown = sorted(set(recipe) - set(train_config.RECIPE_KEYS))
    if unknown:
        raise ValueError(
            f"config key '{recipe_where}/{unknown[0]}' is not allowed (unknown key); "
            f"expected one of {sorted(train_config.RECIPE_KEYS)}"
        )
    config = {
        "dataset": {
            "name": dataset.name,
            "root": None,
            "options": copy.deepcopy(dataset.options),
            "seed": dataset.seed,
            "augment": recipe.get("augment"),
            "download": False,
        },
        "model": {"arch": raw["arch"], "params": copy.deepcopy(raw["arch_params"])},
        "noise": {
            "name": raw["noise"],
            "sigma": raw["sigma"],
            "params": copy.deepcopy(raw["noise_params"]),
            "space": raw["noise_space"],
        },
        "method": {"name": raw["method"]["name"], "params": copy.deepcopy(raw["method"].get("params", {}))},
        **{k: copy.deepcopy(v) for k, v in recipe.items() if k != "augment"},
        "device": "auto",
        "threads": None,
    }
    try:
        return train_config.resolve_config(config)
    except ValueError as exc:
        raise ValueError(f"config key {recipe_where!r}: {exc}") from None


def soft_targets(loss: Any, method: Mapping[str, Any], where: str) -> SoftTargets:
    """The soft-target file of a method that needs one: its teacher (resolved to the teacher's key by
    the plan), the noise draws per image and the seed the loss expects."""
    teacher = method["params"].get("teacher")
    if teacher is None:
        raise ValueError(f"config key {where!r}: method {method['name']!r} needs a teacher model (a models name)")
    return SoftTargets(teacher, loss.teacher_samples, loss.teacher_seed)
