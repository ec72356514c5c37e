import gzip
import os
import re
import shutil
import struct
import threading
import tracemalloc
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from rows import row

import minnet as mn
from minnet.datasets import mnist
from minnet.datasets.mnist import MNIST_FILES, MNIST_URL, download, read_idx


def shared_mnist() -> Path:
    """The shared copy of MNIST: ``$MINNET_DATA/mnist`` if set, else ``../shared/data/mnist`` beside the repo."""
    if os.environ.get("MINNET_DATA"):
        return Path(os.environ["MINNET_DATA"]) / "mnist"
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"


SHARED = shared_mnist()
needs_mnist = pytest.mark.skipif(
    not all((SHARED / name).is_file() for name in MNIST_FILES), reason=f"the MNIST files are not in {SHARED}"
)
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def data():
    return mn.datasets.load_mnist(SHARED)


@pytest.fixture
def offline(monkeypatch):
    """Every download fails as it does without a network; returns the URLs asked for."""
    asked = []

    def no_network(url, destination, **kwargs):
        asked.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(mnist, "download", no_network)
    return asked


def copy_mnist(folder: Path, names=tuple(MNIST_FILES)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(SHARED / name, folder / name)
    return folder


def idx_bytes(type_code: int, dims: tuple[int, ...], payload: bytes = b"") -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


# ---- the data ----------------------------------------------------------------


@needs_mnist
def test_shapes_dtypes_and_range(data):
    X_train, y_train, X_test, y_test = data
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    for X in (X_train, X_test):
        assert X.min() == 0.0 and X.max() == 1.0 and X.flags.c_contiguous


@needs_mnist
def test_pixels_are_the_bytes_over_255(data):
    # Decoded independently: the test images' 16-byte header, then one byte per pixel.
    raw = np.frombuffer(gzip.decompress((SHARED / "t10k-images-idx3-ubyte.gz").read_bytes()), np.uint8, offset=16)
    np.testing.assert_array_equal(data[2], (raw / 255).astype(np.float32).reshape(10000, 784))
    # The training mean every MNIST tutorial normalises with.
    assert abs(data[0].mean(dtype=np.float64) - 0.1307) < 1e-4


@needs_mnist
def test_images_are_the_same_pixels_as_one_channel_of_28_rows_of_28(data):
    X_train, y_train, X_test, y_test = mn.datasets.load_mnist(SHARED, images=True)
    assert X_train.shape == (60000, 1, 28, 28) and X_test.shape == (10000, 1, 28, 28)
    assert X_train.dtype == X_test.dtype == np.float32 and X_train.flags.c_contiguous
    # Row r, column c of test image i is byte 16 + 784 i + 28 r + c of the file.
    raw = np.frombuffer(gzip.decompress((SHARED / "t10k-images-idx3-ubyte.gz").read_bytes()), np.uint8, offset=16)
    i, r, c = 7, 20, 9
    assert X_test[i, 0, r, c] == np.float32(raw[784 * i + 28 * r + c] / 255)
    np.testing.assert_array_equal(X_test, data[2].reshape(10000, 1, 28, 28))
    np.testing.assert_array_equal(X_train, data[0].reshape(60000, 1, 28, 28))
    np.testing.assert_array_equal(y_train, data[1])
    np.testing.assert_array_equal(y_test, data[3])


@needs_mnist
def test_images_take_no_more_memory_than_rows():
    rows = peak_memory_of(lambda: mn.datasets.load_mnist(SHARED))
    images = peak_memory_of(lambda: mn.datasets.load_mnist(SHARED, images=True))
    assert images < rows + (1 << 20)  # a copy of the training images would add 188 MB


@row("dataset-images-not-bool")
@pytest.mark.parametrize("images", ["yes", 1, None])
def test_images_must_be_a_bool_and_a_wrong_one_reads_and_downloads_nothing(tmp_path, offline, images):
    with pytest.raises(TypeError, match=rf"^images must be True or False, got {re.escape(repr(images))} "):
        mn.datasets.load_mnist(tmp_path / "mnist", images=images)
    assert offline == [] and list(tmp_path.iterdir()) == []


@needs_mnist
def test_first_labels(data):
    _, y_train, _, y_test = data
    np.testing.assert_array_equal(y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(y_test[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])


@needs_mnist
def test_class_counts(data):
    _, y_train, _, y_test = data
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), TRAIN_COUNTS)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), TEST_COUNTS)


# ---- damaged and wrong files -----------------------------------------------------


@needs_mnist
def test_a_file_with_other_content_is_refused_by_its_checksum(tmp_path, offline):
    folder = copy_mnist(tmp_path)
    # A well-formed IDX file of the right shape, but not quite MNIST's pixels: one is changed.
    content = bytearray(gzip.decompress((SHARED / "train-images-idx3-ubyte.gz").read_bytes()))
    content[-1] ^= 1
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(content, compresslevel=1))
    with pytest.raises(
        ValueError,
        match=r"train-images-idx3-ubyte\.gz is damaged or is not the expected "
        r"file: the sha256 of its content is [0-9a-f]{64}, expected ba8910",
    ):
        mn.datasets.load_mnist(folder)
    assert offline == []


@needs_mnist
def test_a_truncated_gzip_file_is_refused_naming_it(tmp_path, offline):
    folder = copy_mnist(
        tmp_path, ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    )
    whole = (SHARED / "train-images-idx3-ubyte.gz").read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 50])
    with pytest.raises(
        ValueError,
        match=r"train-images-idx3-ubyte\.gz.* it is truncated.*Delete it and call load_mnist again",
    ):
        mn.datasets.load_mnist(folder)
    # Cut where the declared size is still plausible, gzip finds the stream cut short.
    (folder / "train-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is not a valid gzip file.*Delete it"):
        mn.datasets.load_mnist(folder)


@needs_mnist
def test_a_malformed_header_is_refused_naming_the_file(tmp_path, offline):
    folder = copy_mnist(
        tmp_path, ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    )
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08"))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is not an IDX file"):
        mn.datasets.load_mnist(folder)


@needs_mnist
def test_swapped_files_are_refused_by_their_shape_before_reading_the_values(tmp_path, offline):
    folder = copy_mnist(tmp_path, ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    shutil.copyfile(SHARED / "t10k-images-idx3-ubyte.gz", folder / "train-images-idx3-ubyte.gz")
    shutil.copyfile(SHARED / "train-images-idx3-ubyte.gz", folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match=r"declares shape \(10000, 28, 28\), expected \(60000, 28, 28\)"):
        mn.datasets.load_mnist(folder)


# ---- where the files are looked for, and what happens when they are missing ------


def test_offline_error_names_each_missing_file_its_place_and_its_url(tmp_path, offline):
    with pytest.raises(FileNotFoundError) as info:
        mn.datasets.load_mnist(tmp_path / "mnist")
    message = str(info.value)
    assert "could not be downloaded (URLError" in message
    for name in MNIST_FILES:
        assert f"{MNIST_URL}{name}  ->  {tmp_path / 'mnist' / name}" in message
    assert offline == [MNIST_URL + name for name in MNIST_FILES][:1]  # it stops at the first failure
    assert isinstance(info.value.__cause__, urllib.error.URLError)


@needs_mnist
def test_offline_error_lists_only_the_files_still_missing(tmp_path, offline):
    copy_mnist(tmp_path, ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    with pytest.raises(FileNotFoundError) as info:
        mn.datasets.load_mnist(tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "t10k-images-idx3-ubyte.gz" in message
    assert "labels" not in message
    assert offline == [MNIST_URL + "train-images-idx3-ubyte.gz"]


def test_folder_is_minnet_data_then_the_cache(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("MINNET_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "data" / "mnist" / "t10k-labels"))):
        mn.datasets.load_mnist()
    monkeypatch.delenv("MINNET_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "home" / ".cache" / "minnet" / "mnist"))):
        mn.datasets.load_mnist()


@needs_mnist
def test_missing_files_are_downloaded_into_the_folder_then_read(tmp_path, monkeypatch, data):
    fetched = []

    def from_shared(url, destination, **kwargs):
        fetched.append(url)
        shutil.copyfile(SHARED / Path(url).name, destination)

    monkeypatch.setattr(mnist, "download", from_shared)
    copy_mnist(tmp_path / "new", ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"])
    _, y_train, _, y_test = mn.datasets.load_mnist(tmp_path / "new")
    assert fetched == [MNIST_URL + "train-labels-idx1-ubyte.gz", MNIST_URL + "t10k-labels-idx1-ubyte.gz"]
    np.testing.assert_array_equal(y_train, data[1])
    np.testing.assert_array_equal(y_test, data[3])


def test_path_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        mn.datasets.load_mnist(tmp_path / "file")
    with pytest.raises(TypeError, match="path must be a file path"):
        mn.datasets.load_mnist(3)


def make_directory(path: Path) -> None:
    path.mkdir()


def make_symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)


def make_dangling_symlink(path: Path) -> None:
    path.symlink_to("nowhere.gz")


NOT_A_FILE = {
    "directory": (make_directory, "a directory"),
    "fifo": (os.mkfifo, r"a FIFO \(a named pipe\)"),
    "symlink-loop": (make_symlink_loop, "a loop of symbolic links"),
    "dangling-symlink": (make_dangling_symlink, "a symbolic link to 'nowhere.gz', which does not exist"),
}


@row("mnist-path-not-a-file")
@pytest.mark.parametrize("kind", list(NOT_A_FILE))
def test_something_else_where_a_file_belongs_is_named_and_nothing_is_downloaded(tmp_path, offline, kind):
    make, description = NOT_A_FILE[kind]
    make(tmp_path / "t10k-images-idx3-ubyte.gz")
    path = re.escape(repr(str(tmp_path / "t10k-images-idx3-ubyte.gz")))
    with pytest.raises(
        ValueError, match=rf"^{path} should be the MNIST file t10k-images-idx3-ubyte.gz, but it is {description}; "
    ):
        mn.datasets.load_mnist(tmp_path)
    assert offline == []  # not even the files that are missing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t10k-images-idx3-ubyte.gz"]


@pytest.mark.parametrize("kind", list(NOT_A_FILE))
def test_read_idx_names_what_is_there_when_it_is_not_a_file(tmp_path, kind):
    make, description = NOT_A_FILE[kind]
    make(tmp_path / "f.gz")
    result: list = []

    def read():  # in a thread: opening a FIFO blocks until a writer opens it
        with pytest.raises(ValueError, match=rf"f\.gz is {description}, not an IDX file") as info:
            read_idx(tmp_path / "f.gz")
        result.append(info)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert result, "read_idx blocked or did not refuse"


@pytest.mark.parametrize("kind", ["fifo", "symlink-loop"])
def test_the_folder_itself_must_be_a_folder(tmp_path, offline, kind):
    make, description = NOT_A_FILE[kind]
    make(tmp_path / "mnist")
    with pytest.raises(NotADirectoryError, match=f"MNIST is read from a folder, but .*mnist' is {description}"):
        mn.datasets.load_mnist(tmp_path / "mnist")
    assert offline == []


# ---- download: checked, then renamed into place --------------------------------


@needs_mnist
def test_download_writes_the_checked_file(tmp_path):
    name = "t10k-labels-idx1-ubyte.gz"
    shape, sha256 = MNIST_FILES[name]
    download((SHARED / name).resolve().as_uri(), tmp_path / name, shape=shape, sha256=sha256)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert (tmp_path / name).read_bytes() == (SHARED / name).read_bytes()


@needs_mnist
def test_download_of_the_wrong_file_leaves_nothing(tmp_path):
    url = (SHARED / "t10k-labels-idx1-ubyte.gz").resolve().as_uri()
    _, sha256 = MNIST_FILES["train-labels-idx1-ubyte.gz"]
    with pytest.raises(
        ValueError,
        match=r"the file downloaded from file://.* is not the expected one: "
        r".*sha256 of its content is ff7bcfd4.*, expected 65a50cbb",
    ):
        download(url, tmp_path / "train-labels-idx1-ubyte.gz", sha256=sha256)
    assert list(tmp_path.iterdir()) == []


def test_failed_download_leaves_nothing(tmp_path):
    with pytest.raises(urllib.error.URLError):
        download((tmp_path / "absent.gz").as_uri(), tmp_path / "x.gz")
    assert list(tmp_path.iterdir()) == []


# ---- read_idx ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_code, dtype",
    [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)],
)
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_every_type_big_endian_gzipped_or_not(tmp_path, type_code, dtype, compress):
    values = (
        np.arange(-6, 6).astype(dtype).reshape(2, 3, 2)
        if np.dtype(dtype).kind != "u"
        else np.arange(12, dtype=dtype).reshape(2, 3, 2)
    )
    content = idx_bytes(type_code, values.shape, values.astype(np.dtype(dtype).newbyteorder(">")).tobytes())
    (tmp_path / "f").write_bytes(gzip.compress(content) if compress else content)
    got = read_idx(tmp_path / "f")
    np.testing.assert_array_equal(got, values)
    assert got.dtype == dtype and got.dtype.isnative


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"holds 0 bytes, fewer than the 4 of the magic number"),
        (b"\x00\x00\x08", r"holds 3 bytes"),
        (b"\x08\x03\x00\x00" + bytes(16), r"expected a magic number of two zero bytes.*got 0x08030000"),
        (b"\x00\x00\x07\x01" + bytes(4), r"a type code \(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e\).*got 0x00000701"),
        (b"\x00\x00\x08\x00", r"number of dimensions >= 1, got 0x00000800"),
        (b"\x00\x00\x08\x03" + struct.pack(">2I", 60000, 28), r"declares 3 dimensions but the file ends after 2"),
        (
            idx_bytes(0x08, (2, 3), bytes(5)),
            r"truncated: its IDX header declares shape \(2, 3\) \(6 bytes of values\), "
            r"the file holds 5 bytes",
        ),
        (idx_bytes(0x0C, (2,), bytes(9)), r"holds more data than its IDX header declares \(shape \(2,\), 8 bytes"),
    ],
)
def test_read_idx_refuses_a_malformed_file_with_a_value_error(tmp_path, content, message):
    (tmp_path / "bad.gz").write_bytes(gzip.compress(content))
    with pytest.raises(ValueError, match=f"bad.gz.*{message}"):
        read_idx(tmp_path / "bad.gz")


def peak_memory_of(call) -> int:
    """The most memory, in bytes, that Python and numpy held at once during ``call()``."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused(error, match):
    """A call that must raise ``error`` matching ``match``, for :func:`peak_memory_of`."""

    def check(call):
        def run():
            with pytest.raises(error, match=match):
                call()

        return run

    return check


@pytest.mark.parametrize(
    "compress, message", [(False, "truncated"), (True, "more than read_idx takes a gzip file of [0-9]+ bytes to hold")]
)
def test_read_idx_allocates_no_more_than_the_file_holds_whatever_the_header_claims(tmp_path, compress, message):
    # (2^32 - 1)^3 bytes declared, 1000 present.
    content = idx_bytes(0x08, (2**32 - 1,) * 3, bytes(1000))
    (tmp_path / "huge").write_bytes(gzip.compress(content) if compress else content)
    peak = peak_memory_of(refused(ValueError, message)(lambda: read_idx(tmp_path / "huge")))
    assert peak < 1 << 20  # the header, whatever it declares


def gzip_bomb(path: Path, n_values: int) -> Path:
    """A gzipped IDX file that really holds ``n_values`` zero bytes: about 1/1000 of that on disk."""
    chunk = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(idx_bytes(0x08, (n_values,)))
        for start in range(0, n_values, len(chunk)):
            f.write(chunk[: n_values - start])
    return path


@row("idx-declared-size")
def test_read_idx_refuses_a_gzip_bomb_before_allocating_what_it_declares(tmp_path):
    path = gzip_bomb(tmp_path / "bomb.gz", 40_000_000)  # 40 MB of values in about 39 KB
    assert path.stat().st_size * mnist.MAX_GZIP_RATIO < 40_000_000 < path.stat().st_size * 1032
    message = r"bomb\.gz: its IDX header declares shape \(40000000,\) .* gunzip it"
    peak = peak_memory_of(refused(ValueError, message)(lambda: read_idx(path)))
    assert peak < 1 << 20  # before the bound: 40 MB and more


def test_read_idx_reads_a_gzipped_file_within_the_bound_allocating_its_values_once(tmp_path):
    values = np.random.default_rng(0).integers(0, 4, 3_000_000).astype(np.uint8)  # about 4:1, as MNIST
    (tmp_path / "f.gz").write_bytes(gzip.compress(idx_bytes(0x08, values.shape, values.tobytes())))
    got = []
    peak = peak_memory_of(lambda: got.append(read_idx(tmp_path / "f.gz")))
    np.testing.assert_array_equal(got[0], values)
    assert peak < len(values) + (2 << 20)  # the values, and a chunk of the gzip stream being read


def test_read_idx_checks_shape_and_sha256(tmp_path):
    (tmp_path / "f").write_bytes(idx_bytes(0x08, (3,), b"\x01\x02\x03"))
    with pytest.raises(ValueError, match=r"declares shape \(3,\), expected \(4,\)"):
        read_idx(tmp_path / "f", shape=(4,))
    with pytest.raises(ValueError, match="sha256 of its content is .*, expected 00"):
        read_idx(tmp_path / "f", sha256="00" * 32)


def test_read_idx_refuses_damaged_gzip(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(0x08, (100,), bytes(range(100)))))
    packed[-6] ^= 0xFF  # inside the CRC-32 of the trailer
    (tmp_path / "f.gz").write_bytes(bytes(packed))
    with pytest.raises(ValueError, match=r"f\.gz is not a valid gzip file"):
        read_idx(tmp_path / "f.gz")
