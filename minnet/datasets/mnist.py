"""MNIST: finding the four IDX files, fetching them once, and reading them.

MNIST is too large to ship inside the package (about 11 MB gzipped), so
:func:`load_mnist` reads it from a folder on disk and downloads it there the
first time. Every file is checked against the sha256 of the published MNIST
content before a single value of it is used.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import http.client
import io
import math
import os
import secrets
import shutil
import stat
import struct
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from minnet._validation import check_bool, check_path

__all__ = ["MAX_GZIP_RATIO", "MNIST_FILES", "MNIST_URL", "download", "load_mnist", "read_idx"]

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
"""Where missing files are downloaded from: PyTorch's public mirror of the MNIST files."""

MNIST_FILES: dict[str, tuple[tuple[int, ...], str]] = {
    "train-images-idx3-ubyte.gz": ((60000, 28, 28), "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte.gz": ((60000,), "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte.gz": ((10000, 28, 28), "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte.gz": ((10000,), "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
"""Each file's name, the shape of its values and the sha256 of its content *after* gunzip.

The hashes are of the published, uncompressed MNIST files, so any faithful
copy passes, however it was gzipped.
"""

# IDX's third magic byte names the element type; values are stored big-endian.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
MAX_GZIP_RATIO = 64
"""The most bytes of values :func:`read_idx` takes a gzipped IDX file to hold, as a multiple of its size.

Deflate can reach about 1032 (a file of one repeated byte), so a small file
could otherwise make ``read_idx`` allocate a thousand times its size. Real
image data holds far less: MNIST's files decompress to 2 to 5 times their
size, sparse 28 x 28 images (a 4 x 4 blob of ink each) to about 30.
"""


def _read_header(f: io.BufferedIOBase, path: Path) -> tuple[bytes, np.dtype, tuple[int, ...]]:
    """The header's bytes, the element type and the dimensions it declares."""
    magic = f.read(4)
    if len(magic) < 4:
        raise ValueError(
            f"{path} is not an IDX file: it holds {len(magic)} bytes, fewer than the 4 of the magic number"
        )
    if magic[:2] != b"\0\0" or magic[2] not in _IDX_TYPES or magic[3] == 0:
        codes = ", ".join(f"0x{code:02x}" for code in _IDX_TYPES)
        raise ValueError(
            f"{path} is not an IDX file: expected a magic number of two zero bytes, "
            f"a type code ({codes}) and a number of dimensions >= 1, got 0x{magic.hex()}"
        )
    n_dims = magic[3]
    sizes = f.read(4 * n_dims)
    if len(sizes) < 4 * n_dims:
        raise ValueError(
            f"{path}: the IDX header declares {n_dims} dimensions but the file "
            f"ends after {len(sizes) // 4} of their sizes"
        )
    return magic + sizes, np.dtype(_IDX_TYPES[magic[2]]), struct.unpack(f">{n_dims}I", sizes)


def _what_is(path: Path) -> str | None:
    """What is at ``path``, following symbolic links: ``"a file"``, ``"a directory"``, ...; None if nothing."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a loop of symbolic links"
        return f"not accessible ({exc.strerror})"
    for test, kind in [
        (stat.S_ISREG, "a file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (a named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ]:
        if test(mode):
            return kind
    return "a device"


def _check_room(
    path: Path, dims: tuple[int, ...], n_bytes: int, file_size: int, header_size: int, compressed: bool
) -> None:
    """Refuse a header that declares more values than the file can hold, before anything is allocated."""
    if not compressed and n_bytes > file_size - header_size:
        raise ValueError(
            f"{path} is truncated: its IDX header declares shape {dims} "
            f"({n_bytes} bytes of values), the file holds {file_size - header_size} bytes"
        )
    if compressed and n_bytes > MAX_GZIP_RATIO * file_size:
        raise ValueError(
            f"{path}: its IDX header declares shape {dims} ({n_bytes} bytes of values), more than "
            f"read_idx takes a gzip file of {file_size} bytes to hold ({MAX_GZIP_RATIO} times its size): "
            f"it is truncated, or compressed far more than image data is (MNIST's files hold 2 to 5 "
            f"times their size). If it really holds that much, gunzip it and read the uncompressed "
            f"file, whose size is checked exactly"
        )


def _read_values(f: io.BufferedIOBase, n_bytes: int, dims: tuple[int, ...], path: Path) -> np.ndarray:
    """Exactly ``n_bytes`` more bytes from ``f``, and nothing after them, as uint8."""
    data = np.empty(n_bytes, dtype=np.uint8)
    view = data.data  # the array's own memory, filled in place
    filled = 0
    while filled < n_bytes:
        # In chunks: a gzip reader decompresses a whole request into a temporary first.
        got = f.readinto(view[filled : filled + _CHUNK])
        if not got:
            raise ValueError(
                f"{path} is truncated: its IDX header declares shape {dims} "
                f"({n_bytes} bytes of values), the file holds {filled} bytes"
            )
        filled += got
    if f.read(1):
        raise ValueError(
            f"{path} holds more data than its IDX header declares (shape {dims}, {n_bytes} bytes of values)"
        )
    return data


def read_idx(
    path: str | os.PathLike[str], *, shape: tuple[int, ...] | None = None, sha256: str | None = None
) -> np.ndarray:
    """Read an IDX file, gzipped or not, into an array.

    IDX is MNIST's format: two zero bytes, a type code, the number of
    dimensions ``d``, then ``d`` big-endian uint32 sizes, then the values in
    row-major order, big-endian.

    Parameters
    ----------
    path : str or os.PathLike
        The file; gzip is recognised by its content, not its name.
    shape : tuple of int or None, default=None
        If given, the header must declare exactly this shape, so a wrong file
        is refused before its values are read.
    sha256 : str or None, default=None
        If given, the sha256 of the (decompressed) file must equal it.

    Returns
    -------
    values : ndarray of the shape the header declares
        In native byte order; uint8 for MNIST. A view of the bytes read, not
        a copy.

    Raises
    ------
    ValueError
        If the path is not a file (a directory, a FIFO), the file is not
        valid gzip, its header is malformed or disagrees with ``shape``, it
        holds fewer or more values than the header declares, or its sha256
        differs from ``sha256``. The message names the file.

    Notes
    -----
    What it allocates is bounded by the file's size, whatever the header
    declares: an uncompressed file must hold exactly the values declared, and
    a gzipped one may declare at most :data:`MAX_GZIP_RATIO` (64) times its
    own size (deflate can reach about 1032 times), so a small file declaring
    a huge array is refused before anything is allocated.
    """
    path = check_path("path", path)
    kind = _what_is(path)
    if kind not in (None, "a file"):  # nothing there: open says so
        raise ValueError(f"{path} is {kind}, not an IDX file")
    with open(path, "rb") as raw:
        file_size = os.fstat(raw.fileno()).st_size
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw) if compressed else raw
        try:
            header, dtype, dims = _read_header(f, path)
            if shape is not None and dims != tuple(shape):
                raise ValueError(f"{path}: the IDX header declares shape {dims}, expected {tuple(shape)}")
            n_bytes = math.prod(dims) * dtype.itemsize
            _check_room(path, dims, n_bytes, file_size, len(header), compressed)
            data = _read_values(f, n_bytes, dims, path)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # what gzip raises on damaged data
            raise ValueError(f"{path} is not a valid gzip file: {exc}") from None
    if sha256 is not None:
        digest = hashlib.sha256(header)
        digest.update(data.data)  # not header + data: that would copy the data
        if digest.hexdigest() != sha256:
            raise ValueError(
                f"{path} is damaged or is not the expected file: the sha256 of its "
                f"content is {digest.hexdigest()}, expected {sha256}"
            )
    values = data.view(dtype).reshape(dims)
    # Single bytes have no byte order, so MNIST's uint8 values stay a view.
    return values if dtype.itemsize == 1 else values.astype(dtype.newbyteorder("="))


def download(
    url: str, destination: str | os.PathLike[str], *, shape: tuple[int, ...] | None = None, sha256: str | None = None
) -> None:
    """Download an IDX file to ``destination``, checked, and written atomically.

    The bytes go to a temporary file next to ``destination``, which is read
    back with :func:`read_idx` and only then renamed into place, so an
    interrupted or wrong download never leaves a file that looks complete.

    Parameters
    ----------
    url : str
        Where the file is.
    destination : str or os.PathLike
        Where it goes; its folder must exist.
    shape, sha256
        What the file must hold, as in :func:`read_idx`.

    Raises
    ------
    OSError
        If the download fails (``urllib.error.URLError`` is one).
    ValueError
        If what was downloaded is not the expected file.
    """
    destination = check_path("destination", destination)
    tmp = destination.with_name(f".{destination.name}.{secrets.token_hex(8)}.part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "xb") as out:
            shutil.copyfileobj(response, out)
        try:
            read_idx(tmp, shape=shape, sha256=sha256)
        except ValueError as exc:
            raise ValueError(f"the file downloaded from {url} is not the expected one: {exc}") from None
        os.replace(tmp, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _mnist_folder(path: Any) -> Path:
    if path is not None:
        folder = check_path("path", path).expanduser()
    elif os.environ.get("MINNET_DATA"):
        folder = Path(os.environ["MINNET_DATA"]).expanduser() / "mnist"
    else:
        folder = Path.home() / ".cache" / "minnet" / "mnist"
    kind = _what_is(folder)
    if kind not in (None, "a directory"):
        raise NotADirectoryError(f"MNIST is read from a folder, but {str(folder)!r} is {kind}")
    return folder


def _fetch_missing(folder: Path) -> None:
    """Download the MNIST files missing from ``folder``, or say exactly what to do by hand."""
    kinds = {name: _what_is(folder / name) for name in MNIST_FILES}
    for name, kind in kinds.items():
        # Only what is truly absent is downloaded: a folder or a pipe in a file's place is a mistake to show.
        if kind not in (None, "a file"):
            raise ValueError(
                f"{str(folder / name)!r} should be the MNIST file {name}, but it is {kind}; "
                f"remove it (load_mnist then downloads the file there), or put the file there"
            )
    missing = [name for name, kind in kinds.items() if kind is None]
    if not missing:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in missing:
            shape, sha256 = MNIST_FILES[name]
            download(MNIST_URL + name, folder / name, shape=shape, sha256=sha256)
    except (OSError, http.client.HTTPException) as exc:
        # No network, a refusing server, a connection cut mid-file, a read-only folder
        # (urllib's URLError is an OSError; a cut connection can be an HTTPException).
        missing = [name for name in MNIST_FILES if not (folder / name).is_file()]
        steps = "\n".join(f"  {MNIST_URL}{name}  ->  {folder / name}" for name in missing)
        raise FileNotFoundError(
            f"MNIST files are missing from {folder} and could not be downloaded "
            f"({type(exc).__name__}: {exc}). Download them and put them there:\n{steps}\n"
            f"or pass load_mnist(path=...) the folder that holds them "
            f"(or set MINNET_DATA to a folder with an mnist/ subfolder)."
        ) from exc


def _scaled(images: np.ndarray, as_images: bool) -> np.ndarray:
    # One float32 array, written straight from the uint8 pixels (no float64 step);
    # either shape is a view of it.
    shape = (len(images), 1, *images.shape[1:]) if as_images else (len(images), -1)
    return np.divide(images.reshape(shape), np.float32(255), dtype=np.float32)


def load_mnist(
    path: str | os.PathLike[str] | None = None, *, images: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load MNIST: 60,000 training and 10,000 test images of handwritten digits.

    The four gzipped IDX files (the names in :data:`MNIST_FILES`) are read
    from the first of these folders:

    1. ``path``, if given;
    2. ``$MINNET_DATA/mnist``, if the environment variable ``MINNET_DATA`` is set;
    3. ``~/.cache/minnet/mnist``.

    Files missing there are downloaded there from :data:`MNIST_URL` first.
    Offline, put the files in that folder yourself (the error names each
    file, where it goes and where it comes from). Each file's decompressed
    content must have the published sha256; a damaged file is refused:
    delete it, and the next call downloads it again.

    Parameters
    ----------
    path : str, os.PathLike or None, default=None
        Folder holding (or to receive) the four files.
    images : bool, default=False
        If False, each image is a row of 784 pixels, for a network of Dense
        layers; if True, an image of one channel, ``(1, 28, 28)`` (NCHW, as
        PyTorch's ``torchvision.datasets.MNIST``), for :class:`~minnet.Conv2D`.
        The same values either way, in one array, without a copy.

    Returns
    -------
    X_train : ndarray of shape (60000, 784), or (60000, 1, 28, 28) if images=True, float32
        Training images, each 28 x 28 pixels (flattened row by row unless
        ``images``), scaled from 0-255 to [0, 1] (0 is background, 1 full ink).
    y_train : ndarray of shape (60000,), int64
        Training labels, class indices 0-9.
    X_test : ndarray of shape (10000, 784), or (10000, 1, 28, 28) if images=True, float32
        Test images, as ``X_train``.
    y_test : ndarray of shape (10000,), int64
        Test labels, class indices 0-9.

    Raises
    ------
    TypeError
        If ``images`` is not True or False (before any file is looked at).
    FileNotFoundError
        If files are missing and cannot be downloaded.
    NotADirectoryError
        If the folder is a file (or a FIFO, a loop of symbolic links...).
    ValueError
        If a file is damaged or is not the MNIST file of its name, or
        something else is in its place (a folder, a FIFO, a loop of symbolic
        links): nothing is downloaded then.

    Examples
    --------
    Not run as a doctest, since it may download::

        X_train, y_train, X_test, y_test = load_mnist()
        X_train.shape, X_train.dtype, y_train[:5]
        # ((60000, 784), dtype('float32'), array([5, 0, 4, 1, 9]))
        X_train, y_train, X_test, y_test = load_mnist(images=True)
        X_train.shape
        # (60000, 1, 28, 28)
    """
    as_images = check_bool("images", images)
    folder = _mnist_folder(path)
    _fetch_missing(folder)
    arrays = []
    # One file at a time, scaled as soon as it is read, so at most one set of
    # uint8 images is alive next to the float32 ones.
    for name, (shape, sha256) in MNIST_FILES.items():
        try:
            values = read_idx(folder / name, shape=shape, sha256=sha256)
        except ValueError as exc:
            raise ValueError(
                f"{exc}. Delete it and call load_mnist again to download a fresh copy from {MNIST_URL}{name}"
            ) from None
        arrays.append(_scaled(values, as_images) if len(shape) == 3 else values.astype(np.int64))
    X_train, y_train, X_test, y_test = arrays
    return X_train, y_train, X_test, y_test
