"""Content addresses: a readable name plus a short hash of everything that determines a result.

A model's folder is ``<dataset>_<arch>_<method>_<noise>_<sigma>-<hash of its resolved training
config>``, a run's ``<noise>_<sigma>_n<n>_<split>-<hash of its sampling settings>``: a model or run
declared under several names (or by several papers) is computed once, and changing any
hyper-parameter gives a new folder instead of silently reusing an old result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

HASH_LENGTH = 10
KEY_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, no spaces) used for hashing and spec files."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def short_hash(obj: Any, length: int = HASH_LENGTH) -> str:
    """First ``length`` hex digits of the SHA-256 of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


def slug(*parts: Any) -> str:
    """Readable, path-safe name: the parts joined by ``_``, other characters replaced by ``-``."""
    text = "_".join(str(p) for p in parts if p is not None and str(p) != "")
    text = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9.+_-]+", "-", text)).strip("-_.")
    return text[:80] or "x"


def content_key(readable: Sequence[Any], identity: Any) -> str:
    """``slug(readable)-hash(identity)``: the folder name of one model, run or metrics variant."""
    return f"{slug(*readable)}-{short_hash(identity)}"


def format_number(value: float) -> str:
    """Shortest round-trip text of a number (``0.25``, ``1.0``, ``1e-05``)."""
    return repr(float(value))
