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
    ``sequential`` (None: fixed N) samples each example in rounds until a stopping rule decides it
    (:func:`sequential_settings`; its ``max_n`` must equal ``n``). Its alpha, norm and radii are
    part of the run's identity: the rule uses them while sampling, so a table that reads the run
    must use the same ones.
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
    sequential: dict[str, Any] | None = _setting(None, "noise")
    model: str | None = _setting(None, "label")
    arch: str | None = _setting(None, "label")
    batch: int = _setting(400, "engine")
    autocast: bool = _setting(False, "engine")
    channels_last: bool = _setting(False, "engine")
    fast: bool = _setting(False, "engine")
    compile: bool = _setting(False, "engine")

    def __post_init__(self) -> None:
        if self.sequential is not None:
            seq = sequential_settings(self.sequential)
            if self.rng == "block-v1":
                raise ValueError("sequential needs rng philox-v1 (block-v1 streams depend on their length)")
            if seq["max_n"] != self.n:
                raise ValueError(f"sequential.max_n {seq['max_n']} must equal n {self.n} (the largest sample size)")
            object.__setattr__(self, "sequential", seq)

    @classmethod
    def names(cls, *roles: str) -> tuple[str, ...]:
        """The field names of the given roles (all fields if none), in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if not roles or f.metadata["role"] in roles)

    @classmethod
    def file_names(cls) -> tuple[str, ...]:
        """The keys of ``run.json``: every setting but the engine's."""
        return cls.names("data", "noise", "label")

    def file_dict(self) -> dict[str, Any]:
        """The content of ``run.json`` (a plain dict; see :meth:`from_file`); ``sequential`` only
        when set (run files of fixed-N runs stay as they were)."""
        out = {name: getattr(self, name) for name in self.file_names()}
        if out["sequential"] is None:
            del out["sequential"]
        return out

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


SEQUENTIAL_MODES: tuple[str, ...] = ("grid", "radius")
SEQUENTIAL_DEFAULTS: dict[str, Any] = {
    "bound": "cp",
    "first": 30,
    "ratio": 1.15,
    "final_share": 0.55,
    "spend_power": 2.0,
    "futility_alpha": 0.045,
}
"""Defaults of :func:`randsmooth.sequential.make_rule` (tuned on ``benchmarks/sequential.py``)."""


def _number(value: Any, key: str, lo: float, hi: float, *, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not lo <= value <= hi:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"sequential.{key} must be {kind} in [{lo:g}, {hi:g}], got {value!r}")
    return value if integer else float(value)


def sequential_settings(value: Any) -> dict[str, Any]:
    """The canonical form of a run's ``sequential`` settings (every key given; ValueError naming the key).

    Keys: ``mode`` ("grid": decide every radius of ``radii``; "radius": the one ``radius``),
    ``max_n`` (the largest sample size), ``norm`` ("l1", "l2", "linf"), ``alpha`` (the one-sided
    error level of the certificates, in (0, 1/2)) and the rule's tuning (:data:`SEQUENTIAL_DEFAULTS`:
    ``bound`` "cp" or "mixture", checkpoints ``first`` * ``ratio``^t, ``final_share`` of alpha at
    max_n and the rest in proportion to t^``spend_power``, ``futility_alpha``). Grid mode stores
    ``radii`` ascending; radius mode ``radii`` = [radius].
    """
    if not isinstance(value, dict):
        raise ValueError(f"sequential must be a mapping (mode, max_n, radii or radius, norm, alpha), got {value!r}")
    known = {"mode", "max_n", "radii", "radius", "norm", "alpha", *SEQUENTIAL_DEFAULTS}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"sequential: unknown key {unknown[0]!r}; expected some of {sorted(known)}")
    for key in ("mode", "max_n", "norm", "alpha"):
        if key not in value:
            raise ValueError(f"sequential.{key} is required")
    mode = value["mode"]
    if mode not in SEQUENTIAL_MODES:
        raise ValueError(f"sequential.mode must be one of {list(SEQUENTIAL_MODES)}, got {mode!r}")
    if value["norm"] not in ("l1", "l2", "linf"):
        raise ValueError(f"sequential.norm must be l1, l2 or linf, got {value['norm']!r}")
    if mode == "grid":
        radii = value.get("radii")
        if "radius" in value or not isinstance(radii, list) or not radii:
            raise ValueError(f"sequential.radii must be a non-empty list of radii (grid mode), got {radii!r}")
        radii = sorted({_number(r, "radii entry", 0.0, float("inf")) for r in radii})
    else:
        radius = value.get("radius")
        canonical = "radius" not in value and isinstance(value.get("radii"), list) and len(value["radii"]) == 1
        if canonical:  # the canonical form (radii = [radius]), as run.json holds it
            radius = value["radii"][0]
        elif "radii" in value or "radius" not in value:
            raise ValueError("sequential.radius is required in radius mode (and radii is not allowed)")
        radii = [_number(radius, "radius", 0.0, float("inf"))]
    out = {**SEQUENTIAL_DEFAULTS, **{k: v for k, v in value.items() if k in SEQUENTIAL_DEFAULTS}}
    if out["bound"] not in ("cp", "mixture"):
        raise ValueError(f"sequential.bound must be cp or mixture, got {out['bound']!r}")
    return {
        "mode": mode,
        "max_n": _number(value["max_n"], "max_n", 1, float("inf"), integer=True),
        "radii": radii,
        "norm": value["norm"],
        "alpha": _number(value["alpha"], "alpha", 1e-300, 0.4999999),
        "bound": out["bound"],
        "first": _number(out["first"], "first", 1, float("inf"), integer=True),
        "ratio": _number(out["ratio"], "ratio", 1.0000001, 100.0),
        "final_share": _number(out["final_share"], "final_share", 0.0, 1.0),
        "spend_power": _number(out["spend_power"], "spend_power", 0.0, 10.0),
        "futility_alpha": _number(out["futility_alpha"], "futility_alpha", 1e-300, 0.4999999),
    }


RUN_DEFAULTS: dict[str, Any] = {
    f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
    for f in dataclasses.fields(RunSpec)
}
"""Every setting's default (the engine, the count table's settings and the CLI read them here)."""
