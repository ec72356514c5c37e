"""The minnet file format: one ``.npz`` archive, written atomically, read as hostile.

A minnet file is an ordinary numpy ``.npz`` archive (a zip of ``.npy``
members, stored uncompressed) holding nothing but

* ``__minnet__.npy``: a ``uint8`` array with the UTF-8 bytes of a JSON
  description: ``format``, ``format_version`` and what the writer adds
  (:mod:`minnet.io.serialize` the architecture, the parameter table and the
  layers' state, :mod:`minnet.io.checkpoint` the state of a run);
* ``param.0.npy``, ``param.1.npy``, ...: one array per entry of the
  description's ``parameters`` list;
* ``state.0.npy``, ``state.1.npy``, ...: the arrays the description refers to
  as ``{"__array__": "state.K"}`` (see :func:`pack`): layer state, optimizer
  buffers, callback arrays.

Files are written to a temporary file in the target directory and renamed
into place only once complete, so a crash or a full disk never leaves half a
file where a good one was (:func:`write_atomically`).

Reading trusts nothing in the file, and costs at most a small multiple of the
file's size, whatever the file declares:

* the first bytes are checked first: a file that is not a zip archive is
  refused after reading eight bytes of it, however large it is;
* the zip directory is checked before anything is decompressed: only
  ``.npy`` members, each once, stored or deflated, whose declared sizes add
  up to at most :data:`MAX_EXPANSION` times the file's size (a zip bomb, or
  a small deflated member declaring gigabytes, is refused there);
* every array header is checked against its member's size before any array
  is allocated, and must hold plain numbers: never objects, so never pickle;
* the description must be minnet's, of a version this minnet reads, nested
  at most :data:`MAX_DEPTH` levels, and must name every array the file holds
  and hold every array it refers to.

Each array is then read from the file in chunks into its own buffer; the
file is never read whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: saves of one file are not serialised against each other
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "MAX_EXPANSION",
    "check_writable",
    "pack",
    "read_archive",
    "temporary_path",
    "unpack",
    "write_archive",
    "write_atomically",
]

FORMAT_VERSION = 2
"""Version of the file layout; files from a newer version are refused, older ones read.

Version 2 added the layers' state (``states``); version 1 files have none.
"""

MAX_EXPANSION = 4
"""How many times its own size a file's arrays may declare in all (minnet writes 1)."""

MAX_DEPTH = 256
"""How deeply a description's JSON may nest (a model nested ``MAX_NESTING`` = 100 containers deep takes about 210)."""

_FORMAT_NAME = "minnet"
_META_MEMBER = "__minnet__.npy"
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_MAGIC = b"\x80"
_ARRAY_REF = "__array__"
_TMP_SUFFIX = ".minnet-tmp"
_CHUNK = 1 << 20  # bytes decompressed at a time into an array's buffer


# -- state as JSON plus arrays -------------------------------------------------


def pack(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Replace every ndarray in a nested dict/list by a reference; store it in ``arrays``.

    Parameters
    ----------
    obj : dict, list, ndarray, number, str or None, nested
        Such as a layer's ``get_state()`` or an optimizer's ``state_dict()``.
    arrays : dict of str to ndarray
        The archive's arrays; each ndarray of ``obj`` is added as ``state.K``.

    Returns
    -------
    dict, list, number, str or None
        The JSON-able copy of ``obj``, each array replaced by ``{"__array__": "state.K"}``.
    """
    if isinstance(obj, np.ndarray):
        if not _holds_numbers(obj.dtype):
            raise TypeError(f"cannot save an array of dtype {obj.dtype}: minnet files hold arrays of numbers only")
        key = f"state.{sum(k.startswith('state.') for k in arrays)}"
        arrays[key] = obj
        return {_ARRAY_REF: key}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"state dicts must have string keys, got {list(obj)!r}")
        if set(obj) == {_ARRAY_REF}:  # it would read back as a reference to an array
            raise TypeError(f"a state dict cannot have {_ARRAY_REF!r} as its only key")
        return {k: pack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [pack(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot save state of type {type(obj).__name__}: {obj!r}")


def unpack(obj: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Inverse of :func:`pack`: the references of a description read back, replaced by their arrays."""
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY_REF}:
            key = obj[_ARRAY_REF]
            if not isinstance(key, str) or key not in arrays:
                raise ValueError(f"the file refers to an array {key!r} it does not hold")
            return arrays[key]
        return {k: unpack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, arrays) for v in obj]
    return obj


# -- writing -------------------------------------------------------------------


def write_archive(
    path: Path,
    meta: dict[str, Any],
    arrays: Mapping[str, np.ndarray],
    check: Callable[[dict[str, Any]], Any] | None = None,
) -> None:
    """Write ``meta`` (as JSON, after ``format`` and ``format_version``) and ``arrays`` to ``path`` atomically.

    What :func:`read_archive` would refuse is refused first, before anything
    is written: the description is read back from its JSON and checked as
    reading checks it (its nesting, the arrays it names), then handed to
    ``check`` (a writer's own reading, such as rebuilding the model), whose
    ValueError is passed on in the same words. See :func:`write_atomically`
    for what "atomically" promises.

    Raises
    ------
    ValueError
        ``cannot save to '...': load would refuse the file: ...``, saying why.
    """
    description = {"format": _FORMAT_NAME, "format_version": FORMAT_VERSION, **meta}
    try:
        text = json.dumps(description)
        read_back = json.loads(text)
        _check_names(read_back, {f"{name}.npy" for name in [*arrays, _META_MEMBER[:-4]]}, "the file")
        if check is not None:
            check(read_back)
    except (ValueError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "its description is nested too deeply"
        raise ValueError(f"cannot save to {str(path)!r}: load would refuse the file: {reason}") from None
    payload = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    members: dict[str, Any] = {_META_MEMBER[:-4]: payload, **arrays}
    write_atomically(path, lambda f: np.savez(f, **members))


def write_atomically(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Create or replace the file ``path`` with what ``write(f)`` writes to a binary file ``f``, atomically.

    The content is written to the temporary file :func:`temporary_path`
    names, in the same directory, flushed to disk, then renamed over
    ``path`` with ``os.replace`` (atomic on POSIX). On any failure the
    temporary file is removed and a previous file at ``path`` is left as it
    was. A ``path`` that is a symbolic link is written through: the file it
    points to is replaced, and the link kept. Model files
    (:func:`~minnet.save`), checkpoints and exported ONNX models are written
    this way.

    A save killed outright (``kill -9``, a power cut) leaves its temporary
    file behind: the next save of the same ``path`` replaces it, so there is
    never more than one. The temporary file is locked while it is written
    (``flock``, where the system has it), which makes concurrent saves of
    one ``path`` take turns and tells a leftover from a save in progress.
    """
    path = _target(path)
    tmp_name = temporary_path(path)
    with os.fdopen(_claim(tmp_name), "wb") as f:
        # Renamed (or removed) while still locked, so that no other save can take the name meanwhile.
        try:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            with contextlib.suppress(OSError):
                os.chmod(tmp_name, path.stat().st_mode & 0o777)
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
    _fsync_directory(path.parent)


def check_writable(path: Path) -> None:
    """Refuse a ``path`` that :func:`write_atomically` could not write, by trying what it will do.

    A missing directory, a directory itself, a name longer than the file
    system allows, and a directory where the temporary file cannot be
    created (read-only, no permission) are refused; nothing is left behind.
    :class:`~minnet.Checkpoint` calls this before the first epoch, so a run
    does not fail only when it first saves.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, ValueError or OSError
        Saying what is wrong with ``path``.
    """
    path = _target(path)
    tmp_name = temporary_path(path)
    fd = _claim(tmp_name)
    try:
        os.unlink(tmp_name)
    finally:
        os.close(fd)


def temporary_path(path: Path) -> Path:
    """The one temporary file a save of ``path`` writes first: ``.NAME.minnet-tmp`` next to it.

    A name that would then exceed the file system's limit (``NAME_MAX``,
    usually 255 bytes) is shortened, and a digest of the whole name keeps
    two long names apart: the temporary name is never longer than the
    limit, whatever the length of a name that fits it.
    """
    name = f".{path.name}{_TMP_SUFFIX}"
    limit = _name_max(path.parent)
    if len(os.fsencode(name)) <= limit:
        return path.with_name(name)
    tail = f"~{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]}{_TMP_SUFFIX}"
    head = os.fsencode(path.name)[: max(limit - len(tail) - 1, 0)].decode("utf-8", errors="ignore")
    return path.with_name(f".{head}{tail}")


def _target(path: Path) -> Path:
    """The file a save of ``path`` replaces, refused if it cannot become one.

    A symlink is written through, as ``open(path, "w")`` would: the file it
    points to is replaced and the link stays. A name too long for the file
    system, a missing directory and a directory are refused.
    """
    for name in dict.fromkeys([path, Path(os.path.realpath(path))]):  # the name given, then the file
        size, limit = len(os.fsencode(name.name)), _name_max(name.parent)
        if size > limit:
            raise ValueError(
                f"cannot save to {str(name)!r}: its file name is {size} bytes long, and the file "
                f"system allows at most {limit}; give a shorter name"
            )
    path = Path(os.path.realpath(path)) if path.is_symlink() else path
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {str(path)!r}: the directory {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {str(path)!r}: it is a directory; give a file name")
    return path


def _name_max(directory: Path) -> int:
    """The longest file name (in bytes) the file system of ``directory`` allows."""
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # not POSIX, or not reported: the common limit
        return 255


def _claim(tmp_name: Path) -> int:
    """A new, empty file at ``tmp_name``, opened for writing and locked; its descriptor.

    Waits while another save of the same file holds it. A file left there
    by a save that was killed (nobody holds its lock) is removed and made
    anew. After taking the lock, the name is checked to still be this file:
    the save that held it may have renamed it into place meanwhile.
    """
    flags = os.O_WRONLY | getattr(os, "O_BINARY", 0)
    while True:
        try:
            # Mode 0o666, so the OS applies the umask as for any ordinary new file.
            fd, fresh = os.open(tmp_name, flags | os.O_CREAT | os.O_EXCL, 0o666), True
        except FileExistsError:
            try:
                fd, fresh = os.open(tmp_name, flags), False
            except FileNotFoundError:  # renamed into place meanwhile: try again
                continue
        try:
            _lock(fd)
            mine = os.path.samestat(os.fstat(fd), os.stat(tmp_name))
        except FileNotFoundError:
            mine = False
        except BaseException:
            os.close(fd)
            raise
        if mine and fresh:
            return fd
        if mine:
            os.unlink(tmp_name)  # a killed save's leftover: nobody else holds it
        os.close(fd)


def _lock(fd: int) -> None:
    """Lock the open file ``fd`` exclusively, waiting for whoever holds it (released when it is closed)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every OS.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- reading -------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    """What an ``.npy`` member's header declares: the array's shape, dtype and order, and where its data start."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int


def read_archive(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a minnet archive; returns its description and all its arrays (by name, without ``.npy``).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is empty, truncated, corrupt, not a minnet file, holds
        pickled objects, declares more data than :data:`MAX_EXPANSION` times
        its size, holds a member its description does not name, or was
        written by a newer format version. Nothing large is allocated first.
    """
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a directory, not a minnet file")
    where = repr(str(path))
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        _check_magic(f.read(len(_NPY_MAGIC)), where)
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as archive:
                members = _check_directory(archive.infolist(), size, where)
                headers = {name: _read_header(archive, info, where) for name, info in members.items()}
                if _META_MEMBER not in members:
                    raise ValueError(
                        f"{where} is an .npz archive but not a minnet file (it has no {_META_MEMBER[:-4]} entry)"
                    )
                meta = _read_description(archive, members[_META_MEMBER], headers[_META_MEMBER], size, where)
                _check_names(meta, members, where)
                arrays = {
                    name[:-4]: _read_array(archive, members[name], headers[name])
                    for name in members
                    if name != _META_MEMBER
                }
        except MemoryError:
            raise ValueError(f"{where} holds arrays too large for the available memory") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, RuntimeError, NotImplementedError) as exc:
            raise ValueError(f"{where} is corrupt or truncated ({type(exc).__name__}: {exc})") from None
    return meta, arrays


def _check_magic(start: bytes, where: str) -> None:
    """Refuse, from its first bytes alone, a file that is not a zip archive."""
    if not start:
        raise ValueError(f"{where} is empty; it is not a minnet file")
    if start.startswith(_PICKLE_MAGIC):
        raise ValueError(f"{where} holds pickled Python objects; minnet never unpickles files")
    if start.startswith(_NPY_MAGIC):
        raise ValueError(f"{where} is a single .npy array, not a minnet .npz file")
    if not start.startswith(_ZIP_MAGIC):
        raise ValueError(f"{where} is not a minnet file (it is not an .npz archive)")


def _check_directory(infos: list[zipfile.ZipInfo], size: int, where: str) -> dict[str, zipfile.ZipInfo]:
    """Check the zip directory against the file's size before anything is decompressed.

    The declared (uncompressed) sizes bound what reading the members can
    allocate, since a member never yields more than it declares; so their
    sum must stay within :data:`MAX_EXPANSION` times the file's size. This
    refuses a zip bomb, including one whose members overlap in the file.
    """
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name in members:
            raise ValueError(f"{where} holds the member {name!r} twice; it is corrupt or not a minnet file")
        if not name.endswith(".npy"):
            raise ValueError(
                f"{where} holds the member {name!r}, which is not an .npy array; minnet files hold nothing else"
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(
                f"{where}: member {name!r} uses zip compression method {info.compress_type}; "
                f"minnet reads stored or deflated members only"
            )
        if info.compress_size > size:
            raise ValueError(
                f"{where} is corrupt or truncated: member {name!r} declares "
                f"{info.compress_size} compressed bytes in a file of {size}"
            )
        members[name] = info
    declared = sum(info.file_size for info in infos)
    if declared > MAX_EXPANSION * size:
        worst = max(infos, key=lambda info: info.file_size / max(info.compress_size, 1))
        raise ValueError(
            f"{where} declares {declared} bytes of arrays in a file of {size} bytes "
            f"(member {worst.filename!r}: {worst.file_size} bytes from {worst.compress_size}); "
            f"minnet refuses files that expand more than {MAX_EXPANSION}-fold"
        )
    return members


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> _Header:
    """Read and check one member's ``.npy`` header, decompressing no more than the header.

    numpy would allocate an array of the shape a header declares before
    reading a byte of it, so the shape must account exactly for the
    member's (already bounded) size.
    """
    name = info.filename
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"it has .npy format version {version}, which minnet does not write")
        except ValueError as exc:
            raise ValueError(
                f"{where} is corrupt or truncated: member {name!r} has no valid .npy header ({exc})"
            ) from None
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(
            f"{where} holds pickled Python objects; minnet never unpickles files "
            f"(member {name!r} is an array of objects)"
        )
    if not _holds_numbers(dtype):
        raise ValueError(f"{where}: array {name[:-4]!r} has dtype {dtype}, not numbers")
    if any(n < 0 for n in shape):
        raise ValueError(f"{where} is corrupt: member {name!r} declares the shape {shape}")
    data = math.prod(shape) * dtype.itemsize
    if offset + data != info.file_size:
        raise ValueError(
            f"{where} is corrupt or truncated: member {name!r} declares shape {shape} of "
            f"{dtype} ({data} bytes) but holds {info.file_size - offset}"
        )
    return _Header(tuple(shape), fortran_order, dtype, offset)


def _holds_numbers(dtype: np.dtype) -> bool:
    """Whether arrays of ``dtype`` are plain numbers (bool, integers, floats): all a minnet file holds."""
    return dtype.kind in "biuf" and dtype.fields is None and dtype.subdtype is None


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, header: _Header) -> np.ndarray:
    """The member's array, decompressed in chunks straight into its buffer (checked by its CRC)."""
    array = np.empty(header.shape, header.dtype, order="F" if header.fortran_order else "C")
    # The raw bytes of a Fortran-ordered array are those of its transpose in C order.
    buffer = memoryview((array.T if header.fortran_order else array).reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    with archive.open(info) as f:
        f.read(header.offset)
        done = 0
        while done < len(buffer):
            n = f.readinto(buffer[done : done + _CHUNK])  # type: ignore[attr-defined]  # a ZipExtFile has it
            if not n:
                raise EOFError(f"member {info.filename!r} ends early")
            done += n
        # Reading to the member's end is what makes zipfile check its CRC.
        if f.read(1):
            raise zipfile.BadZipFile(f"member {info.filename!r} holds more than its header declares")
    return array


def _read_description(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, header: _Header, size: int, where: str
) -> dict[str, Any]:
    """The JSON description, checked to be minnet's and of a version this minnet reads."""
    if header.dtype != np.uint8 or len(header.shape) != 1:
        raise ValueError(f"{where} has a corrupt description (wrong array type)")
    # Parsed JSON costs Python objects, up to some 25 times its text: a
    # description larger than the file (a deflated one) would multiply that.
    if info.file_size > size:
        raise ValueError(
            f"{where} has a description of {info.file_size} bytes, larger than the file itself; "
            f"minnet writes it uncompressed"
        )
    raw = _read_array(archive, info, header)
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{where} has a corrupt description ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT_NAME:
        raise ValueError(f"{where} is not a minnet file (its description is not minnet's)")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{where} has an invalid format version {version!r:.40}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{where} was written in format version {version}; this minnet reads "
            f"versions up to {FORMAT_VERSION}; upgrade minnet to load it"
        )
    return meta


def _check_names(meta: dict[str, Any], members: Collection[str], where: str) -> None:
    """Every array the file holds is named by its description, and every one it refers to is held.

    The parameter table names ``param.0`` ... (a missing one is reported by
    the parameter checks, which know its name); references name the rest.
    """
    table = meta.get("parameters")
    if not isinstance(table, list):
        raise ValueError(f"{where} has no valid list of parameters in its description")
    named = {f"param.{i}" for i in range(len(table))}
    for key in _references(meta, where):
        if not isinstance(key, str) or not key.startswith("state."):
            raise ValueError(f"{where} refers to an array {key!r:.40}, which is not a state array")
        if key in named:
            raise ValueError(f"{where} refers to the array {key!r} twice")
        if f"{key}.npy" not in members:
            raise ValueError(f"{where} refers to an array {key!r} it does not hold")
        named.add(key)
    for name in members:
        if name != _META_MEMBER and name[:-4] not in named:
            raise ValueError(f"{where} holds the member {name!r}, an array its description does not name")


def _references(meta: Any, where: str) -> Iterator[Any]:
    """The array names ``meta`` refers to, checking its depth on the way (without recursion)."""
    stack = [(meta, 1)]
    while stack:
        obj, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"{where} has a description nested more than {MAX_DEPTH} levels deep")
        if isinstance(obj, dict):
            if set(obj) == {_ARRAY_REF}:
                yield obj[_ARRAY_REF]
            else:
                stack.extend((value, depth + 1) for value in obj.values())
        elif isinstance(obj, list):
            stack.extend((value, depth + 1) for value in obj)
