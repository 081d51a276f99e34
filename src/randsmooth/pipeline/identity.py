"""Folder keys of models and runs, and the check that a spec file still matches its folder.

A run's folder ``certify/<key>/`` is named by its sampling settings and a model's ``models/<key>/``
by its resolved training config (:mod:`.keys`). The plan computes the keys here, and the commands
that read the folder's spec file (``certify --run run.json``, ``train --config recipe.json``)
recompute the key from the file and refuse a file that no longer matches its folder: a hand-edited
``run.json`` (``n`` 1000 -> 500) would otherwise be sampled inside the folder of the old settings,
and every table and paper README would report the old ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..counts.spec import RunSpec
from .entries import DatasetEntry, RunEntry
from .keys import HASH_LENGTH, content_key, format_number

# keys of a training config that are set per job, not part of a model's identity
RUNTIME_TRAIN_KEYS = ("device", "threads")
_KEYED_FOLDER = re.compile(rf".+-[0-9a-f]{{{HASH_LENGTH}}}")


def dataset_key(name: str, loader_options: Mapping[str, Any]) -> str:
    """The key of a data set given as the loader takes it (its options with the split seed)."""
    options = dict(loader_options)
    seed = options.pop("seed", None)
    return content_key([name], DatasetEntry("", name, "", options, seed, False).identity())


def run_key(entry: RunEntry) -> str:
    """``<noise>_<sigma>_n<n>_<split>-<hash of RunEntry.identity()>``: a run's folder name."""
    readable = [entry.spec.noise, format_number(entry.spec.sigma), f"n{entry.spec.n}", entry.spec.split]
    return content_key(readable, entry.identity())


def run_key_of(spec: RunSpec) -> str:
    """The folder key of the run a ``run.json`` describes (its ``model`` is the model's key)."""
    dataset = DatasetEntry(dataset_key(spec.dataset, spec.dataset_options), spec.dataset, "", {}, None, False)
    return run_key(RunEntry("", dataset, spec))


def model_identity(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What names a trained model's folder: its resolved training config without the per-job
    runtime keys. The defaults of keys added later (noise space pixel, one micro-batch) are left
    out, so existing model folders keep their keys."""
    import copy

    identity = {k: copy.deepcopy(v) for k, v in cfg.items() if k not in RUNTIME_TRAIN_KEYS}
    if identity["noise"]["space"] == "pixel":
        del identity["noise"]["space"]
    if identity.get("micro_batches") == 1:
        del identity["micro_batches"]
    return identity


def model_key(cfg: Mapping[str, Any], pretrained: str | None) -> str:
    """``<dataset>_<arch>_<method>_<noise>_<sigma>-<hash>`` of a trained model: ``cfg`` is its
    resolved training config (``recipe.json``), ``pretrained`` the key of the model it starts from."""
    readable = [
        cfg["dataset"]["name"],
        cfg["model"]["arch"],
        cfg["method"]["name"],
        cfg["noise"]["name"],
        format_number(cfg["noise"]["sigma"]),
    ]
    return content_key(readable, model_identity(cfg) | ({"pretrained": pretrained} if pretrained else {}))


def keyed_folder(path: str | os.PathLike) -> str | None:
    """The key of the content-addressed folder holding ``path`` (None for a file elsewhere)."""
    folder = Path(path).resolve().parent.name
    return folder if _KEYED_FOLDER.fullmatch(folder) else None


def check_key(path: str | os.PathLike, recompute: Any) -> None:
    """Refuse a spec file whose content no longer gives the key of its folder (``recompute()``,
    called only for a file inside a keyed folder)."""
    folder = keyed_folder(path)
    if folder is None:
        return
    try:
        key = recompute()
    except (KeyError, TypeError, ValueError, AttributeError):
        key = None
    if key != folder:
        raise ValueError(f"{path} does not match its folder key (edited by hand?): restore it or delete the folder")


def check_run_file(path: str | os.PathLike, spec: RunSpec) -> None:
    """Refuse a ``certify/<key>/run.json`` whose settings ``spec`` give another key."""
    check_key(path, lambda: run_key_of(spec))


def check_recipe_file(path: str | os.PathLike, cfg: Mapping[str, Any], init: str | os.PathLike | None) -> None:
    """Refuse a ``models/<key>/recipe.json`` whose training config ``cfg`` gives another key.

    ``init`` is the network the model starts from (``train --init``): the weights of another
    workflow model (``models/<key>/final.pt``, whose key is part of the identity) or None. A model
    started from an imported checkpoint cannot be checked here (its key is not in the path).
    """
    pretrained = None
    if init is not None:
        pretrained = keyed_folder(init)
        if pretrained is None:
            return
    check_key(path, lambda: model_key(cfg, pretrained))
