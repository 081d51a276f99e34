"""Checksum-verified, atomic downloads and archive extraction.

Guarantees: a download is streamed to a temporary file in the destination directory, its checksum
is verified, and only then is it renamed onto the destination (``os.replace``); on any failure,
including a checksum mismatch or an interrupted transfer, the temporary file is deleted, so no
partial file is ever left behind. Archives are extracted into a temporary directory next to the
destination, their layout is checked there, and the top-level folder is then renamed into place,
so a half-extracted tree never appears under its final name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's checksum differs from the expected value."""


class DatasetLayoutError(FileNotFoundError):
    """A data folder or archive does not have the expected layout (missing file or folder)."""


def file_checksum(path: str | Path, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes (``algorithm`` is any :mod:`hashlib` name, e.g. md5, sha256)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_digests(md5: str | None, sha256: str | None) -> dict[str, str]:
    expected = {name: value.lower() for name, value in (("md5", md5), ("sha256", sha256)) if value}
    if not expected:
        raise ValueError("a checksum is required: pass md5=... or sha256=...")
    return expected


def verify_file(path: str | Path, *, md5: str | None = None, sha256: str | None = None) -> None:
    """Raise :class:`ChecksumError` (expected vs actual) unless ``path`` has the given checksum(s)."""
    for algorithm, want in _expected_digests(md5, sha256).items():
        got = file_checksum(path, algorithm)
        if got != want:
            raise ChecksumError(f"{algorithm} checksum mismatch for {path}: expected {want}, got {got}")


def download_file(
    url: str,
    dest: str | Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
    opener: Callable[..., Any] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically and verify its md5 and/or sha256 checksum.

    If ``dest`` already exists with the right checksum nothing is downloaded; if it exists with a
    wrong checksum a :class:`ChecksumError` is raised (the file is not overwritten: delete it to
    download again). ``opener(url, timeout=...)`` (default :func:`urllib.request.urlopen`, which
    also serves ``file://`` URLs) must return a context manager with ``read(n)``. Returns ``dest``.
    """
    expected = _expected_digests(md5, sha256)
    dest = Path(dest)
    if dest.exists():
        try:
            verify_file(dest, md5=md5, sha256=sha256)
        except ChecksumError as err:
            raise ChecksumError(
                f"{err}; the existing file was not downloaded by this version or is "
                f"corrupt: delete it to download {url} again"
            ) from None
        log.info("%s already present with the expected checksum", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digests = {algorithm: hashlib.new(algorithm) for algorithm in expected}
        with os.fdopen(fd, "wb") as out, (opener or urllib.request.urlopen)(url, timeout=timeout) as resp:
            total = _content_length(resp)
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=None) as bar:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(chunk)
                    for digest in digests.values():
                        digest.update(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        for algorithm, digest in digests.items():
            got = digest.hexdigest()
            if got != expected[algorithm]:
                raise ChecksumError(
                    f"{algorithm} checksum mismatch for {url}: expected "
                    f"{expected[algorithm]}, got {got}; the download was deleted"
                )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("downloaded %s -> %s (checksum verified)", url, dest)
    return dest


def _content_length(resp: Any) -> int | None:
    headers = getattr(resp, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    return int(value) if value and str(value).isdigit() else None


def extract_archive(
    archive: str | Path, dest_dir: str | Path, member: str, *, check: Callable[[Path], None] | None = None
) -> Path:
    """Extract the top-level folder ``member`` of a tar archive to ``dest_dir/member`` atomically.

    The archive is unpacked (with tarfile's safe ``"data"`` filter) into a temporary directory
    inside ``dest_dir``; ``check(folder)`` may raise if the extracted layout is wrong; then the
    folder is renamed into place. Returns ``dest_dir/member``.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    target = dest_dir / member
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest_dir, prefix=f".{member}.extract-"))
    try:
        log.info("extracting %s", archive)
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(tmp, filter="data")
        extracted = tmp / member
        if not extracted.is_dir():
            found = sorted(p.name for p in tmp.iterdir())
            raise DatasetLayoutError(
                f"archive {archive} has no top-level folder {member!r} (top-level entries: {found})"
            )
        if check is not None:
            check(extracted)
        try:
            os.replace(extracted, target)
        except OSError:
            if not target.is_dir():
                raise
            log.info("%s appeared while extracting (another process?); keeping it", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_extracted(
    root: Path,
    member: str,
    archive_name: str,
    *,
    url: str,
    md5: str | None,
    download: bool,
    check: Callable[[Path], None],
    how_to_obtain: str,
) -> Path:
    """Return ``root/member`` (layout-checked), extracting (and if allowed downloading) it first.

    Order: an existing ``root/member`` is checked and used; else an existing ``root/archive_name``
    is checksum-verified and extracted; else, if ``download``, the archive is downloaded from
    ``url`` (verified against ``md5``) and extracted; else :class:`DatasetLayoutError`.
    """
    folder = root / member
    if folder.exists():
        check(folder)
        return folder
    archive = root / archive_name
    if archive.exists():
        if md5:
            try:
                verify_file(archive, md5=md5)
            except ChecksumError as err:
                raise ChecksumError(f"{err}; delete {archive} and pass download=True, or {how_to_obtain}") from None
        else:
            log.warning("no checksum configured for %s; extracting it unverified", archive)
    elif download:
        download_file(url, archive, md5=md5)
    else:
        raise DatasetLayoutError(
            f"{folder} not found (nor the archive {archive}); pass download=True or {how_to_obtain}"
        )
    extract_archive(archive, root, member, check=check)
    return folder
