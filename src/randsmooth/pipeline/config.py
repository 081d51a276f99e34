"""Reading and validating workflow configs: strict YAML, the JSON schema, one-line errors.

A workflow config is exactly what its file says: Snakemake's ``--configfile`` files are re-read
here (duplicate keys are an error, not a silently dropped entry), merged in the order given, and
the default file ``config/config.yaml`` is read only when no file is given. ``--config KEY=VALUE``
overrides apply last. Validation against ``config/schema.yaml`` fills in the schema's defaults;
every error is one line naming the key path and what was expected, e.g.
``config key 'certify/cohen_0.25/n0': -1 is less than the minimum of 1``.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path("config") / "config.yaml"
SCHEMA = Path("config") / "schema.yaml"
# keys that moved, with where they live now
MOVED = {
    "alpha": "the paper tables (papers/<paper>/tables/<table>/alpha), where radii are computed",
    "two_sided": "the paper tables (papers/<paper>/tables/<table>/two_sided), where radii are computed",
}
# path-valued keys in which a leading ~ means the home folder
_USER_PATHS = ("results", "data_root")
# limits of a config file: its size, its nesting depth and the values its aliases expand to (an
# "alias bomb" of a few lines expands to billions of values when Snakemake hashes the config)
MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (YAML merge keys ``<<`` may still override)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML (or JSON) file strictly; one-line ``ValueError`` naming the file (and line or
    key): not UTF-8, larger than ``MAX_BYTES``, nested deeper than ``MAX_DEPTH``, aliases that refer
    to themselves or expand to more than ``MAX_VALUES`` values."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a YAML file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise ValueError(f"{path}: larger than {MAX_BYTES >> 20} MiB; a config is a short YAML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValueError(f"{path}: {where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: cannot parse YAML ({' '.join(str(exc).split())[:200]})") from None
    except RecursionError:
        raise ValueError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    _check_shape(loaded, path)
    return loaded


def _check_shape(data: Any, path: Path) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH``, self-referencing aliases and aliases expanding to
    more than ``MAX_VALUES`` values; the message names the key."""
    seen: dict[int, tuple[int, int]] = {}  # id of a shared list/dict -> (expanded values, height)
    open_ids: set[int] = set()

    def walk(node: Any, key: str, depth: int) -> tuple[int, int]:
        if not isinstance(node, (dict, list)):
            return 1, 0
        where = f"config key {key or '<top level>'!r}"
        if id(node) in open_ids:
            raise ValueError(f"{path}: {where}: an alias refers to itself (a recursive value)")
        if id(node) not in seen:
            if depth >= MAX_DEPTH:
                raise ValueError(f"{path}: {where}: nested deeper than {MAX_DEPTH} levels")
            open_ids.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            values, height = 1, 0
            for name, child in items:
                count, child_height = walk(child, f"{key}/{name}" if key else str(name), depth + 1)
                values, height = values + count, max(height, child_height + 1)
                if values > MAX_VALUES:
                    raise ValueError(f"{path}: {where}: expands to more than {MAX_VALUES} values (aliases)")
            open_ids.discard(id(node))
            seen[id(node)] = (values, height)
        values, height = seen[id(node)]
        if depth + height > MAX_DEPTH:
            raise ValueError(f"{path}: {where}: nested deeper than {MAX_DEPTH} levels (aliases)")
        return values, height

    walk(data, "", 0)


def top_level_mapping(data: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """``data`` if it is a mapping; else one line saying what the file holds instead."""
    if isinstance(data, dict):
        return data
    what = "is empty" if data is None else "holds a list" if isinstance(data, list) else f"holds the value {data!r:.40}"
    raise ValueError(f"{path}: {what}; a config is a mapping of keys (e.g. 'results: results')")


def merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict update (Snakemake's rule for several config files): ``update`` wins."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _defaulting_validator(schema: Mapping[str, Any]) -> Any:
    """A Draft 2020-12 validator that fills in ``default`` values (copies) while validating."""
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: Mapping[str, Any], instance: Any, schema: Any) -> Any:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})(schema)


def _check_moved(config: Mapping[str, Any]) -> None:
    certify = config.get("certify")
    if not isinstance(certify, Mapping):
        return  # the schema says what certify must be
    for name, entry in certify.items():
        for key in MOVED:
            if isinstance(entry, Mapping) and key in entry:
                raise ValueError(
                    f"config key 'certify/{name}/{key}': {key} moved to {MOVED[key]}; "
                    "a run certified once serves every alpha"
                )


def _check_numbers(value: Any, key: str) -> None:
    """Refuse NaN anywhere (the schema's bounds are all false for NaN, so it would pass them)."""
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"config key {key or '<top level>'!r}: NaN is not a number; expected a finite value")
    if isinstance(value, Mapping):
        for name, child in value.items():
            _check_numbers(child, f"{key}/{name}" if key else str(name))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _check_numbers(child, f"{key}/{index}")


def _error_message(exc: Any) -> str:
    """One line for a jsonschema ValidationError: the key path and what was expected."""
    parts = [str(p) for p in exc.absolute_path]
    if exc.validator == "additionalProperties" and isinstance(exc.instance, dict):
        known = set(exc.schema.get("properties", {}))
        patterns = list(exc.schema.get("patternProperties", {}))
        extra = sorted(k for k in exc.instance if k not in known and not any(re.search(p, k) for p in patterns))
        if extra:
            return (
                f"config key {'/'.join(parts + [str(extra[0])])!r} is not allowed (unknown key); "
                f"expected one of {sorted(known)}"
            )
    if exc.validator in ("anyOf", "oneOf") and exc.context:
        # the shortest alternative's message, but not "is not of type 'null'" of an optional value
        options = [e for e in exc.context if not (e.validator == "type" and e.validator_value == "null")]
        exc = min(options or exc.context, key=lambda e: len(e.message))
    where = "/".join(parts) or "<top level>"
    message = " ".join(exc.message.split())
    return f"config key {where!r}: {message[:300]}"


def validate(config: Any, schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``config`` against the JSON schema, filling in defaults in place; return it."""
    import jsonschema

    if not isinstance(config, dict):
        raise ValueError(f"config must be a mapping at the top level, got {type(config).__name__}")
    _check_moved(config)
    _check_numbers(config, "")
    try:
        _defaulting_validator(load_yaml(schema_path)).validate(config)
    except jsonschema.ValidationError as exc:
        raise ValueError(_error_message(exc)) from None
    for key in _USER_PATHS:
        config[key] = os.path.expanduser(config[key])
    return config


def load(path: str | os.PathLike[str], schema_path: str | os.PathLike[str] = SCHEMA) -> dict[str, Any]:
    """Read and validate one config file (defaults filled in); errors name the file."""
    config = top_level_mapping(load_yaml(path), path)
    try:
        return validate(config, schema_path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def workflow_config(
    configfiles: Sequence[str | os.PathLike[str]],
    overrides: Mapping[str, Any],
    basedir: str | os.PathLike[str],
) -> dict[str, Any]:
    """The config of one Snakemake invocation (module docstring); ``basedir`` holds the Snakefile.

    ``configfiles`` are the ``--configfile`` arguments (none: ``config/config.yaml`` in the working
    directory, else next to the Snakefile); ``overrides`` the ``--config`` values.
    """
    files = config_files(configfiles, basedir)
    config: dict[str, Any] = {}
    for path in files:
        merge(config, top_level_mapping(load_yaml(path), path))
    merge(config, overrides)
    where = ", ".join(str(f) for f in files)
    try:
        return _repository_paths(validate(config, Path(basedir) / SCHEMA), basedir)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _repository_paths(config: dict[str, Any], basedir: str | os.PathLike[str]) -> dict[str, Any]:
    """A relative ``papers/<paper>/published_logs/root`` is taken from the repository (the
    Snakefile's folder), like the ``config/published`` file that lists its logs."""
    for paper in config["papers"].values():
        logs = paper.get("published_logs")
        if logs is not None:
            root = Path(os.path.expanduser(logs["root"]))
            logs["root"] = str(root if root.is_absolute() else Path(basedir) / root)
    return config


def config_files(configfiles: Sequence[str | os.PathLike[str]], basedir: str | os.PathLike[str]) -> list[Path]:
    """The files a Snakemake invocation reads: the ``--configfile`` arguments, else the default."""
    files = [Path(f) for f in configfiles]
    return files or [DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else Path(basedir) / DEFAULT_CONFIG]


def schema_path(config_path: str | os.PathLike[str] | None = None) -> Path:
    """``config/schema.yaml`` of the repository holding ``config_path`` (or this package's checkout)."""
    candidates = []
    if config_path is not None:
        candidates += [parent / SCHEMA for parent in Path(config_path).resolve().parents]
    candidates += [Path.cwd() / SCHEMA, Path(__file__).resolve().parents[3] / SCHEMA]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"cannot find {SCHEMA}; pass --schema")
