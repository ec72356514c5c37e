"""The .npz format: damaged, foreign and hostile files refused, memory bounded by the file, atomic writes."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import threading
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from rows import row
from test_serialize import (
    assert_same_values,
    good_file,
    make_model,
    read_raw,
    set_array,
    set_field,
    values,
    with_meta,
    write_raw,
)

import minnet as mn
import minnet.io.archive


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        mn.load(tmp_path / "nope.npz")


def test_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError):
        mn.load(tmp_path)


# -- files written by hand: what a hostile file may declare ------------------------------


def write_zip(path, members):
    """Write a zip archive byte by byte from ``(name, data, crc, size, method)`` members.

    ``data`` goes into the file as it is (already compressed for method 8),
    and ``crc`` and ``size`` are what the member *declares*: zipfile would
    compute them from the data, and a hostile file need not tell the truth.
    A member whose data is None shares the data of the member before it.
    """
    out, directory, offset = bytearray(), bytearray(), 0
    for name, data, crc, size, method in members:
        encoded = name.encode()
        if data is not None:
            offset = len(out)
            stored = len(data)
            out += (
                struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, stored, size, len(encoded), 0)
                + encoded
                + data
            )
        directory += (
            struct.pack(
                "<4s6H3I5H2I",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                0,
                crc,
                stored,
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(out), 0)
    path.write_bytes(bytes(out + directory + end))


def npy_header(shape, dtype="<f8"):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    return header.getvalue()


def stored(name, data):
    return name, data, zlib.crc32(data), len(data), zipfile.ZIP_STORED


def deflated_zeros(name, header, n_zeros):
    """A deflated member: ``header`` then ``n_zeros`` zero bytes, built from one compressed megabyte.

    After a full flush deflate starts afresh, so each megabyte of zeros
    compresses to the same bytes, which are simply repeated: a genuine,
    valid stream (a thousand-fold zip bomb) made without compressing it all.
    """
    chunk = 1 << 20
    assert n_zeros % chunk == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    data = head + block * (n_zeros // chunk) + c.flush()
    crc = zlib.crc32(header)
    for _ in range(n_zeros // chunk):
        crc = zlib.crc32(bytes(chunk), crc)
    return name, data, crc, len(header) + n_zeros, zipfile.ZIP_DEFLATED


def description(n_out, **changes):
    """A consistent description of Dense(1, n_out, bias=False), as save writes it."""
    meta = {
        "format": "minnet",
        "format_version": 2,
        "kind": "model",
        "minnet_version": mn.__version__,
        "dtype": "float64",
        "architecture": {"class": "Dense", "config": {"n_in": 1, "n_out": n_out, "bias": False}},
        "parameters": [{"name": "W", "shape": [1, n_out], "dtype": "float64"}],
        "states": [{}],
    }
    meta.update(changes)
    text = json.dumps(meta).encode()
    return stored("__minnet__.npy", npy_header((len(text),), "|u1") + text)


BOMB_BYTES = 256 << 20  # what the bomb declares: a 256 MB array in a file of about 270 KB


def _deflated_bomb(tmp_path):
    """A valid minnet file whose one deflated member expands a thousand-fold, to a 256 MB array.

    Numpy's own np.load would allocate the whole array from its header.
    """
    path = tmp_path / "bomb.npz"
    n = BOMB_BYTES // 8
    write_zip(path, [description(n), deflated_zeros("param.0.npy", npy_header((1, n)), BOMB_BYTES)])
    return path


def _shared_stream(tmp_path):
    """Four members that all point at the same deflated data: each small, together 16 times the file."""
    path = tmp_path / "shared.npz"
    n = (4 << 20) // 8
    _name, data, crc, size, method = deflated_zeros("state.0.npy", npy_header((n,)), 4 << 20)
    members = [(f"state.{i}.npy", data if i == 0 else None, crc, size, method) for i in range(4)]
    write_zip(path, [description(1), *members])
    return path


def _deflated_description(tmp_path):
    """A description that inflates beyond the size of the whole file (JSON costs memory as it is parsed).

    A stored array of 512 KB makes the file large enough for the inflated
    megabyte to stay within the expansion allowed to the file as a whole.
    """
    path = tmp_path / "big_description.npz"
    text = json.dumps({"format": "minnet", "format_version": 2, "parameters": [], "junk": " " * (1 << 20)})
    data = npy_header((len(text),), "|u1") + text.encode()
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    write_zip(
        path,
        [
            ("__minnet__.npy", c.compress(data) + c.flush(), zlib.crc32(data), len(data), zipfile.ZIP_DEFLATED),
            stored("state.0.npy", npy_header((1 << 16,)) + bytes(1 << 19)),
        ],
    )
    return path


def _add_member(name, content):
    def make(tmp_path):
        path = good_file(tmp_path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(name, content)
        return path

    return make


def _duplicate_member(tmp_path):
    path = good_file(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it writes
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("param.0.npy", np.lib.format.header_data_from_array_1_0.__name__)
    return path


def _bzip2_member(tmp_path):
    path = good_file(tmp_path)
    with zipfile.ZipFile(path) as archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_BZIP2 if name == "param.0.npy" else None)
    return path


def _nested_description(meta, arrays):
    nested = []
    for _ in range(300):
        nested = [nested]
    meta["deep"] = nested


def _reference(key):
    def change(meta, arrays):
        meta["states"][2] = {"x": {"__array__": key}}

    return change


def _twice_referenced(meta, arrays):
    arrays["state.0"] = np.zeros(2)
    meta["states"][2] = {"x": {"__array__": "state.0"}, "y": {"__array__": "state.0"}}


def _truncate(fraction):
    def make(tmp_path):
        data = good_file(tmp_path).read_bytes()
        path = tmp_path / "cut.npz"
        path.write_bytes(data[: int(len(data) * fraction)])
        return path

    return make


def _bytes(content):
    def make(tmp_path):
        path = tmp_path / "file.npz"
        path.write_bytes(content)
        return path

    return make


def _flip_middle_byte(tmp_path):
    data = bytearray(good_file(tmp_path).read_bytes())
    # The last parameter array's data lie just before the zip directory at the end.
    data[len(data) - 400] ^= 0xFF
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    return path


def _object_array_npz(tmp_path):
    meta, arrays = read_raw(good_file(tmp_path))
    arrays["param.0"] = np.array([{"evil": 1}, None], dtype=object)
    path = tmp_path / "pickled.npz"
    write_raw(path, meta, arrays)
    return path


def _pickle_file(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"W": [1.0, 2.0]}))
    return path


def _npy_file(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    return path


def _foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    write_raw(path, None, {"W": np.ones((3, 5))})
    return path


def _bad_json(tmp_path):
    path = tmp_path / "badjson.npz"
    _, arrays = read_raw(good_file(tmp_path))
    write_raw(path, None, {"__minnet__": np.frombuffer(b"{not json", np.uint8), **arrays})
    return path


def _huge_array_header(tmp_path):
    """An .npy member whose header declares 8 TB over a few bytes of data."""
    import io
    import zipfile

    path = good_file(tmp_path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("param.9.npy", header.getvalue() + b"\0" * 80)
    return path


def _sparse_file(start):
    def make(tmp_path):
        """A 1 GiB file that begins with ``start`` and is empty (sparse) after it: cheap to make."""
        path = tmp_path / "large.npz"
        with open(path, "wb") as f:
            f.write(start)
            f.truncate(1 << 30)
        return path

    return make


# name -> (id of its row in docs/reliability.md, make(tmp_path) -> path, message pattern).
# tests/test_reliability.py checks the table's file- rows against these ids (with test_serialize.BAD_FILES).
BAD_ARCHIVES = {
    "empty": ("file-empty", _bytes(b""), "empty"),
    "text": ("file-foreign", _bytes(b"W = [1, 2, 3]\n"), "not a minnet file"),
    "foreign npz": ("file-foreign", _foreign_npz, "not a minnet file"),
    "wrong format name": ("file-foreign", with_meta(set_field("format", "keras")), "not a minnet file"),
    "bzip2 member": ("file-foreign", _bzip2_member, "'param.0.npy' uses zip compression method 12"),
    "truncated to 10%": ("file-truncated", _truncate(0.1), "corrupt or truncated"),
    "truncated to 50%": ("file-truncated", _truncate(0.5), "corrupt or truncated"),
    "truncated by one byte": ("file-truncated", _truncate(0.9999), "corrupt or truncated"),
    "flipped byte": ("file-corrupt", _flip_middle_byte, "corrupt or truncated"),
    "corrupt json": ("file-corrupt", _bad_json, "corrupt description"),
    "array header declaring 8 TB": (
        "file-corrupt",
        _huge_array_header,
        r"'param.9.npy' declares shape \(1000000, 1000000\)",
    ),
    "duplicate member": ("file-corrupt", _duplicate_member, "holds the member 'param.0.npy' twice"),
    "description nested 300 deep": (
        "file-corrupt",
        with_meta(_nested_description),
        "description nested more than 256 levels deep",
    ),
    "pickle file": ("file-pickle", _pickle_file, "pickled"),
    "npz with object array": ("file-pickle", _object_array_npz, "pickled"),
    "single npy": ("file-npy", _npy_file, "single .npy"),
    "newer version": ("file-newer-version", with_meta(set_field("format_version", 99)), "version 99.*upgrade"),
    "deflated member declaring 256 MB": (
        "file-too-large",
        _deflated_bomb,
        r"declares \d+ bytes of arrays in a file of \d+ bytes \(member "
        r"'param.0.npy': 268435584 bytes from \d+\); minnet refuses files that "
        r"expand more than 4-fold",
    ),
    "members sharing one deflated stream": ("file-too-large", _shared_stream, "expand more than 4-fold"),
    "description larger than the file": (
        "file-too-large",
        _deflated_description,
        "description of 1048.* bytes, larger than the file itself",
    ),
    "1 GiB of something else": ("file-too-large", _sparse_file(b"\0junk"), "not an .npz archive"),
    "1 GiB after a zip signature": ("file-too-large", _sparse_file(b"PK\x03\x04"), "corrupt or truncated"),
    "text member": (
        "file-unknown-member",
        _add_member("notes.txt", "hello"),
        "holds the member 'notes.txt', which is not an .npy array",
    ),
    "extra parameter array": (
        "file-unknown-member",
        with_meta(set_array("param.9", np.zeros(2))),
        "member 'param.9.npy', an array its description does not name",
    ),
    "state array nothing refers to": (
        "file-unknown-member",
        with_meta(set_array("state.0", np.zeros(2))),
        "member 'state.0.npy', an array its description does not name",
    ),
    "reference to a missing array": (
        "file-mismatched-arrays",
        with_meta(_reference("state.3")),
        "refers to an array 'state.3' it does not hold",
    ),
    "reference to a parameter": (
        "file-mismatched-arrays",
        with_meta(_reference("param.0")),
        "refers to an array 'param.0', which is not a state array",
    ),
    "array referred to twice": (
        "file-mismatched-arrays",
        with_meta(_twice_referenced),
        "refers to the array 'state.0' twice",
    ),
}


@pytest.mark.parametrize("name", list(BAD_ARCHIVES))
def test_bad_archive_is_refused_with_a_clear_value_error(tmp_path, name):
    _, make, message = BAD_ARCHIVES[name]
    path = make(tmp_path)
    before = path.stat().st_size, path.stat().st_mtime_ns, start_of(path)
    with pytest.raises(ValueError, match=message):
        mn.load(path)
    # Loading never touches the file.
    assert (path.stat().st_size, path.stat().st_mtime_ns, start_of(path)) == before


def start_of(path):
    with open(path, "rb") as f:
        return f.read(1 << 16)


# -- memory bounded by the file --------------------------------------------------------


def peak_memory_of_load(path):
    """Bytes allocated at the peak of ``mn.load(path)`` (numpy's arrays included), and its error."""
    tracemalloc.start()
    try:
        mn.load(path)
        error = None
    except ValueError as exc:
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, error


def test_the_bomb_is_a_valid_archive_that_declares_256_mb(tmp_path):
    """What the bomb test relies on: zipfile reads it, with the sizes it declares and a CRC that checks."""
    with zipfile.ZipFile(_deflated_bomb(tmp_path)) as archive:
        info = archive.getinfo("param.0.npy")
        assert info.file_size > BOMB_BYTES and info.compress_size < BOMB_BYTES / 900
        with archive.open(info) as f:
            f.read(1 << 20)  # decompresses (only) the start, header and zeros as built
            assert np.lib.format.read_magic(io.BytesIO(npy_header((1,)))) == (1, 0)


@pytest.mark.parametrize(
    "make",
    [_deflated_bomb, _shared_stream, _sparse_file(b"\0junk"), _sparse_file(b"PK\x03\x04")],
    ids=["deflated bomb", "shared stream", "1 GiB non-archive", "1 GiB after a zip signature"],
)
def test_a_file_declaring_far_more_than_it_holds_costs_almost_nothing_to_refuse(tmp_path, make):
    path = make(tmp_path)
    peak, error = peak_memory_of_load(path)
    assert isinstance(error, ValueError)
    # What the file declares (256 MB, 16 MB), or is (1 GiB), is never allocated:
    # refusing it costs less than a megabyte.
    assert peak < 1 << 20, f"refusing {path.name} allocated {peak} bytes at its peak"


def test_loading_a_good_file_costs_a_small_multiple_of_its_size(tmp_path):
    path = tmp_path / "m.npz"
    mn.save(mn.Sequential(mn.Dense(400, 600, rng=0), mn.Sigmoid(), mn.Dense(600, 1, rng=1)), path)
    peak, error = peak_memory_of_load(path)
    assert error is None
    # The arrays read (1x), the model built (1x) and its initial weights (drawn, then replaced).
    assert peak < 6 * path.stat().st_size


def test_arrays_are_read_in_fortran_order_and_any_byte_order(tmp_path):
    path = good_file(tmp_path)
    meta, arrays = read_raw(path)
    expected = values(mn.load(path))
    arrays["param.0"] = np.asfortranarray(arrays["param.0"])
    arrays["state.0"] = np.arange(6.0).reshape(2, 3).astype(">f8", order="F")
    meta["states"][0] = {"big_endian": {"__array__": "state.0"}}
    write_raw(path, meta, arrays)
    loaded_meta, loaded = minnet.io.archive.read_archive(path)
    assert loaded["param.0"].flags.f_contiguous and np.array_equal(loaded["param.0"], expected[0])
    assert loaded["state.0"].dtype == np.dtype(">f8")
    assert np.array_equal(loaded["state.0"], np.arange(6.0).reshape(2, 3))
    assert loaded_meta["states"][0] == {"big_endian": {"__array__": "state.0"}}


# -- writing -------------------------------------------------------------------------


def test_saved_file_gets_ordinary_permissions(tmp_path):
    path = tmp_path / "m.npz"
    mn.save(make_model(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_save_leaves_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    mn.save(make_model(), path)
    before = path.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def write_then_fail(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # two arrays written, then the disk "fills up"
            fp.write(b"\0" * 10)
            raise OSError(28, "No space left on device")
        return real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    other = mn.Sequential(mn.Dense(3, 1, rng=9))
    with pytest.raises(OSError, match="No space left"):
        mn.save(other, path)
    assert len(calls) == 3
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_interrupted_save_leaves_no_temporary(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mn.save(make_model(), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_save_into_missing_directory_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mn.save(make_model(), tmp_path / "nowhere" / "m.npz")
    assert os.listdir(tmp_path) == []


def test_save_over_a_directory_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        mn.save(make_model(), tmp_path / "d")


def test_a_saved_file_gets_the_permissions_of_an_ordinary_new_file(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = tmp_path / "model.npz"
        mn.save(mn.Sequential(mn.Dense(2, 1, rng=0)), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.chmod(path, 0o600)  # an existing file keeps its own permissions
        mn.save(mn.Sequential(mn.Dense(2, 1, rng=0)), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(umask)


# -- long names, killed saves, concurrent saves -------------------------------------


def name_max(directory) -> int:
    return os.pathconf(directory, "PC_NAME_MAX")


@row("file-long-name")
@pytest.mark.parametrize("spare", [11, 0])  # 244 bytes on most file systems, and the limit itself
def test_a_name_as_long_as_the_file_system_allows_saves_and_loads(tmp_path, spare):
    name = "m" * (name_max(tmp_path) - spare - 4) + ".npz"
    model = make_model()
    mn.save(model, tmp_path / name)
    assert_same_values(values(mn.load(tmp_path / name)), values(model))
    assert os.listdir(tmp_path) == [name]


@row("file-long-name")
def test_a_checkpoint_with_the_longest_name_saves_every_epoch(tmp_path):
    path = tmp_path / ("c" * (name_max(tmp_path) - 4) + ".npz")
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    opt = mn.SGD(model.parameters(), lr=0.1)
    mn.fit(model, mn.MSE(), opt, np.ones((4, 2)), np.ones(4), epochs=3, progress=False, callbacks=[mn.Checkpoint(path)])
    assert os.listdir(tmp_path) == [path.name]
    assert mn.load(path).parameters()[0].value.tobytes() == model.parameters()[0].value.tobytes()


@row("file-long-name")
def test_a_name_too_long_is_refused_before_the_first_epoch_and_before_writing(tmp_path):
    path = tmp_path / ("c" * (name_max(tmp_path) - 3) + ".npz")
    message = rf"its file name is {name_max(tmp_path) + 1} bytes long, and the file system allows at most"
    with pytest.raises(ValueError, match=message):
        mn.save(make_model(), path)
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    before = model.parameters()[0].value.copy()
    with pytest.raises(ValueError, match=message):
        mn.fit(model, mn.MSE(), mn.SGD(model.parameters(), lr=0.1), np.ones((4, 2)), np.ones(4), epochs=2,
               progress=False, callbacks=[mn.Checkpoint(path)])  # fmt: skip
    assert np.array_equal(model.parameters()[0].value, before)
    assert os.listdir(tmp_path) == []


def test_temporary_names_of_long_names_stay_within_the_limit_and_apart(tmp_path):
    limit = name_max(tmp_path)
    names = ["a" * (limit - 4) + ".npz", "a" * (limit - 4) + ".npy", "é" * ((limit - 4) // 2) + ".npz"]
    temporary = [minnet.io.archive.temporary_path(tmp_path / name).name for name in names]
    assert all(len(os.fsencode(t)) <= limit for t in temporary)
    assert len(set(temporary)) == len(names)


_KILLED_SAVE = """
import os, signal, sys
import numpy as np
import minnet as mn
real = np.lib.format.write_array
calls = []
def write_then_die(fp, array, *args, **kwargs):
    calls.append(1)
    if len(calls) == 3:  # two arrays written, then the process is killed outright
        fp.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real(fp, array, *args, **kwargs)
np.lib.format.write_array = write_then_die
mn.save(mn.Sequential(mn.Dense(3, 2, seed=int(sys.argv[2]))), sys.argv[1])
"""


@row("file-killed-save")
def test_killed_saves_leave_one_temporary_file_which_the_next_save_replaces(tmp_path):
    path = tmp_path / "m.npz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for seed in range(3):
        killed = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path), str(seed)], env=env, check=False)
        assert killed.returncode == -9
        leftovers = [name for name in os.listdir(tmp_path) if name != path.name]
        assert leftovers == [minnet.io.archive.temporary_path(path).name]  # one, however many saves were killed
        assert (tmp_path / leftovers[0]).stat().st_size > 0
        model = make_model()
        mn.save(model, path)
        assert os.listdir(tmp_path) == [path.name]
        assert_same_values(values(mn.load(path)), values(model))


def test_concurrent_saves_of_one_file_take_turns(tmp_path):
    """Each save's file is whole: the temporary file of one is never renamed while another writes it."""
    path = tmp_path / "m.npz"
    models = [mn.Sequential(mn.Dense(40, 40, seed=seed)) for seed in range(2)]
    errors: list[BaseException] = []

    def save_often(model):
        try:
            for _ in range(15):
                mn.save(model, path)
                loaded = mn.load(path)
                assert any(np.array_equal(loaded[0].W.value, m[0].W.value) for m in models)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save_often, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert os.listdir(tmp_path) == [path.name]


# -- where a save goes ----------------------------------------------------------------


def test_saving_to_a_symlink_writes_through_it_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.npz"
    link = tmp_path / "latest.npz"
    first = mn.Sequential(mn.Dense(2, 1, seed=0))
    mn.save(first, target)
    link.symlink_to(target)
    second = mn.Sequential(mn.Dense(2, 1, seed=1))
    mn.save(second, link)
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["latest.npz", "real.npz"]
    np.testing.assert_array_equal(mn.load(target).parameters()[0].value, second.parameters()[0].value)


def test_a_checkpoint_through_a_symlink_keeps_the_link(tmp_path):
    (tmp_path / "runs").mkdir()
    link = tmp_path / "ckpt.npz"
    link.symlink_to(tmp_path / "runs" / "run1.npz")  # dangling until the first save
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    mn.fit(
        model,
        mn.MSE(),
        mn.SGD(model.parameters(), lr=0.1),
        np.ones((4, 2)),
        np.ones(4),
        epochs=2,
        progress=False,
        callbacks=[mn.Checkpoint(link)],
    )
    assert link.is_symlink() and (tmp_path / "runs" / "run1.npz").is_file()


@pytest.mark.parametrize("name", ["models/", "models" + os.sep])
def test_a_path_ending_in_a_separator_names_a_folder_and_is_refused(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    for call in (lambda: mn.save(model, name), lambda: mn.load(name), lambda: mn.Checkpoint(name)):
        with pytest.raises(
            ValueError,
            match=r"ends with a path separator, so it names a folder; give a file "
            r"name, such as 'models.model\.npz'",
        ):
            call()
    assert list(tmp_path.iterdir()) == []
