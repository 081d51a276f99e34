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
    """Parse a YAML (or JSON) file strictly; one-line ``ValueError`` naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValueError(f"{path}: {where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: cannot parse YAML ({' '.join(str(exc).split())[:200]})") from None


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
    for name, entry in (config.get("certify") or {}).items():
        for key in MOVED:
            if isinstance(entry, Mapping) and key in entry:
                raise ValueError(
                    f"config key 'certify/{name}/{key}': {key} moved to {MOVED[key]}; "
                    "a run certified once serves every alpha"
                )


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
        exc = min(exc.context, key=lambda e: len(e.message))
    where = "/".join(parts) or "<top level>"
    message = " ".join(exc.message.split())
    return f"config key {where!r}: {message[:300]}"


def validate(config: Any, schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``config`` against the JSON schema, filling in defaults in place; return it."""
    import jsonschema

    if not isinstance(config, dict):
        raise ValueError(f"config must be a mapping at the top level, got {type(config).__name__}")
    _check_moved(config)
    try:
        _defaulting_validator(load_yaml(schema_path)).validate(config)
    except jsonschema.ValidationError as exc:
        raise ValueError(_error_message(exc)) from None
    for key in _USER_PATHS:
        config[key] = os.path.expanduser(config[key])
    return config


def load(path: str | os.PathLike[str], schema_path: str | os.PathLike[str] = SCHEMA) -> dict[str, Any]:
    """Read and validate one config file (defaults filled in); errors name the file."""
    config = load_yaml(path)
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
        data = load_yaml(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config must be a mapping at the top level, got {type(data).__name__}")
        merge(config, data)
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
