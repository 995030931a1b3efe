"""Saving a network's state to a file and reading it back, with no pickle either way.

The file is a zip archive (as numpy's ``.npz``) of uncompressed members:

- ``tinynet.json``: the state's names and numbers (see :mod:`tinynet._state`), including
  its format ``version``;
- ``params.npy``: the parameter vector, in the network's dtype;
- ``history.npy``: the last fit's history, one float64 row per epoch;
- from version 2, ``slots.npy``: the optimizer's state, two rows laid out like the parameter
  vector (or none), and ``statistics.npy``: batch normalisation's running statistics.

A save writes a temporary file beside the target, flushes it to disk and renames it over
the target, so a crash, a full disk or an interrupted save leaves the old file whole. A
load checks the archive's members, their sizes, the state's every entry and the arrays'
dtypes, shapes and values, and reads ``.npy`` members with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinynet._state import ARRAY_KEYS, ARRAY_KEYS_OF, META_KEYS, check_state

META_MEMBER = "tinynet.json"
MEMBERS = (META_MEMBER, *(f"{name}.npy" for name in ARRAY_KEYS))
# The members of the files of each version this tinynet reads.
MEMBERS_OF = {
    version: (META_MEMBER, *(f"{name}.npy" for name in names))
    for version, names in ARRAY_KEYS_OF.items()
}
# The zip flags a plain member may have: sizes after the data (0x08), UTF-8 names (0x800).
PLAIN_FLAGS = 0x08 | 0x800
# The metadata is a few hundred bytes; anything much larger is not a tinynet file.
MAX_META_BYTES = 1 << 16

PathLike = str | os.PathLike[str]


# What reading a corrupt, truncated or tampered archive from memory can raise: load turns
# each into a ValueError naming the file.
CORRUPT_FILE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    EOFError,
    NotImplementedError,
    RuntimeError,  # RecursionError too, from deeply nested JSON
    OSError,  # the bytes are in memory: an OSError here is a decoder's, e.g. bz2's
    zipfile.BadZipFile,
)


def as_path(path: Any) -> str:
    """``path`` (a str or an ``os.PathLike`` of one) as a str."""
    if isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
    return path


def save_state(state: dict[str, Any], path: PathLike) -> None:
    """Write ``state`` (already checked) to ``path``, atomically."""
    path = as_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow a link or reuse a file; the mode is filtered by the umask as a
    # plain open's would be.
    fd = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
    )
    try:
        with os.fdopen(fd, "wb") as file:
            write_archive(file, state)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    sync_directory(directory)


def write_archive(file: io.BufferedIOBase, state: dict[str, Any]) -> None:
    """The archive of ``state``, written to the open binary ``file``."""
    meta = {name: state[name] for name in META_KEYS}
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(META_MEMBER, json.dumps(meta, indent=1))
        for name in ARRAY_KEYS:
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, state[name], allow_pickle=False)


def sync_directory(directory: str) -> None:
    """Flush a rename in ``directory`` to disk, where the system allows opening folders."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # Windows: folders cannot be opened, and renames are flushed with the file
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_state(path: PathLike) -> dict[str, Any]:
    """The checked state saved in ``path``.

    Raises
    ------
    OSError
        If ``path`` cannot be read (for example ``FileNotFoundError``).
    ValueError
        If it is not a tinynet file, or a corrupt, truncated or tampered one.
    """
    path = as_path(path)
    with open(path, "rb") as file:
        data = file.read()
    try:
        return check_state(read_archive(data))
    except CORRUPT_FILE_ERRORS as e:
        raise ValueError(f"cannot load {path!r}: {e}") from e


def check_plain_members(infos: Iterable[zipfile.ZipInfo], meta: str, archive_size: int) -> None:
    """Refuse members that are not stored plainly, or claim more bytes than they can hold:
    tinynet stores its members without compression, encryption or other features (whose
    errors zipfile raises as other exceptions), so none can be larger than the archive, and
    the JSON member ``meta`` no larger than MAX_META_BYTES."""
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & ~PLAIN_FLAGS:
            raise ValueError(f"member {info.filename} is compressed or encrypted")
        limit = MAX_META_BYTES if info.filename == meta else archive_size
        if info.file_size > limit:
            raise ValueError(f"member {info.filename} claims {info.file_size} bytes")


def read_archive(data: bytes) -> dict[str, Any]:
    """The unchecked state in the archive ``data``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {info.filename: info for info in archive.infolist()}
        if sorted(members) not in [sorted(names) for names in MEMBERS_OF.values()]:
            raise ValueError(
                f"not a tinynet file: its members are {sorted(members)}, not {list(MEMBERS)}"
            )
        check_plain_members(members.values(), META_MEMBER, len(data))
        meta = json.loads(archive.read(META_MEMBER).decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError(f"{META_MEMBER} must hold a JSON object")
        state = dict(meta)
        # The arrays the members hold (the version's, checked with the rest by check_state).
        for name in (name[: -len(".npy")] for name in members if name != META_MEMBER):
            member = io.BytesIO(archive.read(f"{name}.npy"))
            state[name] = np.lib.format.read_array(member, allow_pickle=False)
            if member.read(1):
                raise ValueError(f"{name}.npy has bytes after its array")
    return state
