"""The settings of one certification run: the one definition of every sampling setting and its default.

:class:`RunSpec` is what the workflow's plan writes to ``results/certify/<run>/run.json``
(:func:`randsmooth.pipeline.commands.run_settings_json`), what ``python -m randsmooth certify``
reads (``--run``; its options override single fields), and what the engine is built from
(:meth:`randsmooth.engine.SamplerConfig.of`). The config schema's ``certify`` entry repeats the
defaults for its users; ``tests/test_pipeline.py`` holds the two equal. Adding a setting means
adding one field here (with its ``role``) and using it.

Every field has a ``role`` (``dataclasses.field(metadata=...)``):

* ``"data"``: which examples (data set name and loader options, split, subset, sharding);
* ``"noise"``: the smoothing noise and the sampling sizes and streams (they determine the counts);
* ``"label"``: names only (the workflow's model key; the architecture of an imported checkpoint);
* ``"engine"``: speed and memory of the engine (batch size, CUDA modes). They are recorded in
  the count table but not written to ``run.json``: the batch size does not change the counts,
  and the engine modes are options of one job. ``autocast`` does certify another network
  (float16), so it is recorded and a resumed or merged shard must share it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ROLES = ("data", "noise", "label", "engine")


def _setting(default: Any, role: str, factory: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"role": role})
    return field(default=default, metadata={"role": role})


@dataclass(frozen=True)
class RunSpec:
    """The sampling settings of one certification run, with their defaults.

    ``dataset`` / ``sigma`` have no default (None = not given yet: the command requires them).
    ``stop`` None is the split's size. ``noise_params`` and ``dataset_options`` are plain dicts
    (``dataset_options`` as the loader takes them: the split seed included). Units and
    conventions: sigma is the per-coordinate RMS of the noise, in [0, 1] pixel units, or in
    normalised units when ``noise_space`` is "normalized" (:mod:`randsmooth.models.noise_space`);
    ``rng`` is the noise RNG scheme of :mod:`randsmooth.engine` ("philox-v1" or "block-v1").
    """

    dataset: str | None = _setting(None, "data")
    dataset_options: dict[str, Any] = _setting(None, "data", dict)
    split: str = _setting("test", "data")
    start: int = _setting(0, "data")
    stop: int | None = _setting(None, "data")
    skip: int = _setting(1, "data")
    num_shards: int = _setting(1, "data")
    noise: str = _setting("gaussian", "noise")
    noise_params: dict[str, Any] = _setting(None, "noise", dict)
    sigma: float | None = _setting(None, "noise")
    noise_space: str = _setting("pixel", "noise")
    n0: int = _setting(100, "noise")
    n: int = _setting(100_000, "noise")
    seed: int = _setting(0, "noise")
    noise_block: int = _setting(128, "noise")
    rng: str = _setting("philox-v1", "noise")
    model: str | None = _setting(None, "label")
    arch: str | None = _setting(None, "label")
    batch: int = _setting(400, "engine")
    autocast: bool = _setting(False, "engine")
    channels_last: bool = _setting(False, "engine")
    fast: bool = _setting(False, "engine")
    compile: bool = _setting(False, "engine")

    @classmethod
    def names(cls, *roles: str) -> tuple[str, ...]:
        """The field names of the given roles (all fields if none), in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if not roles or f.metadata["role"] in roles)

    @classmethod
    def file_names(cls) -> tuple[str, ...]:
        """The keys of ``run.json``: every setting but the engine's."""
        return cls.names("data", "noise", "label")

    def file_dict(self) -> dict[str, Any]:
        """The content of ``run.json`` (a plain dict; see :meth:`from_file`)."""
        return {name: getattr(self, name) for name in self.file_names()}

    @classmethod
    def from_file(cls, data: Any, source: str) -> RunSpec:
        """The settings of a ``run.json`` already parsed from ``source`` (named in errors); keys
        not given keep their defaults."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object")
        unknown = sorted(set(data) - set(cls.file_names()))
        if unknown:
            raise ValueError(f"{source}: unknown key {unknown[0]!r}; expected some of {sorted(cls.file_names())}")
        return cls(**data)

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with ``changes`` (field names) applied."""
        return dataclasses.replace(self, **changes)


RUN_DEFAULTS: dict[str, Any] = {
    f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
    for f in dataclasses.fields(RunSpec)
}
"""Every setting's default (the engine, the count table's settings and the CLI read them here)."""
