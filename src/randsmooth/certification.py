"""One certification shard from a run's settings, a checkpoint and the data (what ``certify`` runs).

:func:`certify_shard` loads the data set and the model, checks that they fit the settings
(:class:`randsmooth.counts.RunSpec`), builds the engine (:mod:`randsmooth.engine`) and writes
the shard's class counts resumably (:mod:`randsmooth.shards`). No radius is computed here.
Errors are ``ValueError`` lines that start with the setting they are about (``stop ...``,
``checkpoint ...``), so the command can name its option.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

from .counts import RunSettings, RunSpec

logger = logging.getLogger(__name__)


def model_id(path: str | os.PathLike) -> str:
    """``"<file name>:<first 16 hex digits of the sha256 of its bytes>"``."""
    from .data import file_checksum

    return f"{Path(path).name}:{file_checksum(path, 'sha256')[:16]}"


def certify_shard(
    spec: RunSpec,
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    shard: int = 0,
    data_root: str | None = None,
    device: str = "auto",
    download: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    rule_for: Callable[[dict[str, Any], Any], Any] | None = None,
) -> Path:
    """Sample (or resume) shard ``shard`` of ``spec``'s subset with the model in ``checkpoint``;
    return the finished Parquet file ``out`` (progress kept in ``OUT.progress.jsonl``).

    A sequential run (``spec.sequential``) samples in rounds (:func:`randsmooth.rounds.run_rounds`)
    under the stopping rule ``rule_for(spec.sequential, noise)`` (e.g.
    :func:`randsmooth.sequential.rule_from_settings`; passed in, as the decisions are a later layer).
    """
    from . import data
    from .device import select_device
    from .engine import CountSampler, SamplerConfig, sample_shard
    from .models import NonFiniteLogitsError, load_model, smoothed_part, to_noise_space
    from .sampling import get_noise
    from .shards import ShardWriter

    if spec.dataset is None or spec.sigma is None:
        missing = "dataset" if spec.dataset is None else "sigma"
        raise ValueError(f"{missing} is required")
    torch_device = select_device(device)
    dspec = data.dataset_spec(spec.dataset, **spec.dataset_options)
    noise = get_noise(spec.noise, spec.sigma, dspec.dim, **spec.noise_params)
    dataset = data.load_dataset(
        spec.dataset, spec.split, data_root, augment=False, download=download, **spec.dataset_options
    )
    stop = len(dataset) if spec.stop is None else spec.stop
    if stop > len(dataset):
        raise ValueError(f"stop {stop} exceeds the size of {spec.dataset}/{spec.split} ({len(dataset)})")
    model, info = load_model(
        checkpoint, torch_device, arch=spec.arch, dataset=spec.dataset, dataset_options=spec.dataset_options
    )
    if int(info["num_classes"]) != dspec.num_classes:
        raise ValueError(
            f"checkpoint {checkpoint} has {info['num_classes']} classes but {spec.dataset} has {dspec.num_classes}"
        )
    if info.get("dataset") not in (None, dspec.name):
        logger.warning("checkpoint was trained on %r, certifying on %r", info.get("dataset"), dspec.name)
    smoothed, inputs = smoothed_part(model, spec.noise_space), to_noise_space(dataset, model, spec.noise_space)
    _check_model_accepts(smoothed, inputs[spec.start][0], torch_device, checkpoint)
    rule = None
    if spec.sequential is not None:
        if rule_for is None:
            raise ValueError("sequential needs a stopping rule (rule_for)")
        rule = rule_for(spec.sequential, noise)
        config = SamplerConfig.of(spec, prefix_budgets=tuple(int(c) for c in rule.checkpoints))
    else:
        config = SamplerConfig.of(spec)
    settings = run_settings(spec, checkpoint, shard, stop, data_root, str(torch_device), dspec, noise, config)
    sampler = CountSampler(smoothed, noise, dspec.num_classes, torch_device, config)
    with ShardWriter(out, settings, overwrite=overwrite) as writer:
        logger.info(
            "certify %s/%s shard %d/%d: %d examples (%d already done), %s sigma=%g (%s space), n0=%d, n=%d, on %s",
            dspec.name,
            spec.split,
            shard,
            spec.num_shards,
            len(settings.expected_indices()),
            len(writer.done),
            noise.name,
            noise.sigma,
            spec.noise_space,
            spec.n0,
            spec.n,
            torch_device,
        )
        try:
            if rule is None:
                path = sample_shard(sampler, inputs, writer, progress=progress)
            else:
                from .rounds import sample_shard_rounds

                path = sample_shard_rounds(sampler, inputs, writer, rule, progress=progress)
        except NonFiniteLogitsError as exc:
            raise ValueError(f"checkpoint {checkpoint}: {exc}") from None
    logger.info("wrote %s", path)
    return path


def run_settings(
    spec: RunSpec,
    checkpoint: str | os.PathLike,
    shard: int,
    stop: int,
    data_root: str | None,
    device: str,
    dspec: Any,
    noise: Any,
    config: Any,
) -> RunSettings:
    """The count table's record of one shard: ``spec`` resolved against the data set (``dspec``),
    the noise (its canonical name and parameters), the engine and the checkpoint."""
    import torch

    from . import __version__

    resolved = ("dataset", "stop", "noise", "noise_params", "sigma")  # given below, as resolved
    copied = {name: getattr(spec, name) for name in RunSpec.names("data", "noise", "engine") if name not in resolved}
    return RunSettings(
        **copied,
        checkpoint=str(checkpoint),
        model_id=model_id(checkpoint),
        dataset=dspec.name,
        data_root=data_root,
        noise=noise.name,
        noise_params=noise.params(),
        sigma=noise.sigma,
        dim=dspec.dim,
        num_classes=dspec.num_classes,
        stop=stop,
        shard=shard,
        device=device,
        prefix_budgets=list(config.budgets()),
        torch_version=torch.__version__,
        version=__version__,
    )


def _check_model_accepts(model: Any, x: Any, device: Any, checkpoint: str | os.PathLike) -> None:
    """One forward pass on one example: a model built for other inputs fails here, naming the file."""
    import torch

    try:
        with torch.inference_mode():
            model.eval()(x.unsqueeze(0).to(device))
    except (RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200]
        raise ValueError(
            f"checkpoint {checkpoint}: the model does not accept this data set's inputs of shape "
            f"{tuple(x.shape)} ({reason})"
        ) from None
