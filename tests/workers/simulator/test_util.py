"""acl.util and acl.app_log as pyACL's C extension has them (hicann/runtime python/pyACL)."""

from __future__ import annotations

import ctypes
import warnings

import numpy as np
import pytest

from workers.simulator.acl import _state

SIZE = 4096


def deprecation(name, instead="bytes_to_ptr"):
    return f"acl.util.{name} will be deprecated. Please use acl.util.{instead} instead."


DISCONTIGUOUS = "The input ndarray is discontiguous. Please use acl.util.bytes_to_ptr instead."


def messages(record):
    assert all(w.category is Warning for w in record)  # PyExc_Warning itself, not a subclass
    return [str(w.message) for w in record]


@pytest.fixture
def dev(acl):
    ptr, ret = acl.media.dvpp_malloc(SIZE)
    assert ret == 0
    return ptr


# --- bytes_to_ptr -----------------------------------------------------------------------------


def test_bytes_to_ptr_is_the_bytes_own_buffer(acl, dev):
    pattern = bytes(range(256)) * (SIZE // 256)
    assert acl.rt.memcpy(dev, SIZE, acl.util.bytes_to_ptr(pattern), SIZE, 1) == 0
    out = bytes(SIZE)
    ptr = acl.util.bytes_to_ptr(out)
    assert ptr == ctypes.cast(ctypes.c_char_p(out), ctypes.c_void_p).value
    assert acl.rt.memcpy(ptr, SIZE, dev, SIZE, 2) == 0
    assert out == pattern  # written in place, as S1-S4 read it back with np.frombuffer
    assert "bytes_to_ptr" in dir(acl.util)


def test_bytes_to_ptr_takes_bytes_subclasses_and_empty_bytes(acl):
    class Tagged(bytes):
        pass

    data = Tagged(b"abc")
    assert acl.util.bytes_to_ptr(data) == ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    assert acl.util.bytes_to_ptr(b"") != 0


@pytest.mark.parametrize(
    "value", [bytearray(8), memoryview(b"12345678"), np.zeros(8, np.uint8), "text", 8, None], ids=repr
)
def test_bytes_to_ptr_refuses_anything_but_bytes(acl, value):
    with pytest.raises(ValueError, match="^needs an byte as argument$"):
        acl.util.bytes_to_ptr(value)


def test_util_arguments_are_positional(acl):
    with pytest.raises(TypeError):
        acl.util.bytes_to_ptr(data=b"x")
    with pytest.raises(TypeError):
        acl.util.bytes_to_ptr(b"x", b"y")


# --- numpy_to_ptr -----------------------------------------------------------------------------


def test_numpy_to_ptr_warns_on_every_call_and_gives_the_data_address(acl, dev):
    array = np.full(SIZE, 5, dtype=np.uint8)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ptrs = [acl.util.numpy_to_ptr(array) for _ in range(2)]
    assert messages(record) == [deprecation("numpy_to_ptr")] * 2
    assert ptrs == [array.ctypes.data] * 2
    assert record[0].filename == __file__  # attributed to the caller, as PyErr_WarnEx does
    assert acl.rt.memcpy(dev, SIZE, ptrs[0], SIZE, 1) == 0
    back = np.zeros(SIZE, dtype=np.uint8)
    with pytest.warns(Warning):
        assert acl.rt.memcpy(acl.util.numpy_to_ptr(back), SIZE, dev, SIZE, 2) == 0
    assert (back == 5).all()


@pytest.mark.parametrize("value", [b"bytes", [1, 2, 3], memoryview(b"x"), 7], ids=repr)
def test_numpy_to_ptr_refuses_anything_but_an_ndarray_after_warning(acl, value):
    with pytest.warns(Warning) as record, pytest.raises(ValueError, match="^needs an ndarray as argument$"):
        acl.util.numpy_to_ptr(value)
    assert messages(record) == [deprecation("numpy_to_ptr")]


def test_numpy_to_ptr_of_a_discontiguous_array_warns_twice_and_points_at_its_first_element(acl):
    base = np.arange(64, dtype=np.uint8)
    for view in (base[::2], base[::-1], base.reshape(8, 8).T):
        with pytest.warns(Warning) as record:
            assert acl.util.numpy_to_ptr(view) == view.ctypes.data
        assert messages(record) == [deprecation("numpy_to_ptr"), DISCONTIGUOUS]


def test_numpy_to_ptr_takes_ndarray_subclasses(acl):
    class Image(np.ndarray):
        pass

    image = np.zeros(16, dtype=np.uint8).view(Image)
    with pytest.warns(Warning):
        assert acl.util.numpy_to_ptr(image) == image.ctypes.data


# --- numpy_contiguous_to_ptr ------------------------------------------------------------------


def test_numpy_contiguous_to_ptr_returns_a_contiguous_array_as_it_is(acl):
    array = np.arange(32, dtype=np.int32)
    with pytest.warns(Warning) as record:
        ptr, out = acl.util.numpy_contiguous_to_ptr(array)
    assert messages(record) == [deprecation("numpy_contiguous_to_ptr")]
    assert out is array and ptr == array.ctypes.data


def test_numpy_contiguous_to_ptr_copies_a_discontiguous_array(acl, dev):
    base = np.arange(2 * SIZE, dtype=np.uint8)
    view = base[::2]
    with pytest.warns(Warning) as record:
        ptr, out = acl.util.numpy_contiguous_to_ptr(view)
    assert messages(record) == [deprecation("numpy_contiguous_to_ptr")]  # no discontiguous warning
    assert out is not view and out.flags.c_contiguous and ptr == out.ctypes.data
    assert (out == view).all()
    assert acl.rt.memcpy(dev, SIZE, ptr, SIZE, 1) == 0
    back = bytes(SIZE)
    assert acl.rt.memcpy(acl.util.bytes_to_ptr(back), SIZE, dev, SIZE, 2) == 0
    assert back == view.tobytes()


def test_numpy_contiguous_to_ptr_keeps_the_subclass_and_c_order(acl):
    class Image(np.ndarray):
        pass

    fortran = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)).view(Image)
    with pytest.warns(Warning):
        _, out = acl.util.numpy_contiguous_to_ptr(fortran)
    assert type(out) is Image and out.flags.c_contiguous and (out == fortran).all()


@pytest.mark.parametrize("value", [b"bytes", [1, 2]], ids=repr)
def test_numpy_contiguous_to_ptr_refuses_anything_but_an_ndarray(acl, value):
    with pytest.warns(Warning), pytest.raises(ValueError, match="^needs an ndarray as argument$"):
        acl.util.numpy_contiguous_to_ptr(value)


# --- ptr_to_bytes / ptr_to_numpy --------------------------------------------------------------


def test_ptr_to_bytes_reads_any_host_memory_but_not_device_or_unmapped_memory(acl, dev):
    array = np.arange(16, dtype=np.uint8)  # never handed to acl.util
    assert acl.util.ptr_to_bytes(array.ctypes.data, 16) == array.tobytes()
    with pytest.raises(ValueError, match="is dvpp memory"):
        acl.util.ptr_to_bytes(dev, 8)
    with pytest.raises(ValueError, match="mapped host memory"):
        acl.util.ptr_to_bytes(8, 8)


def test_ptr_to_numpy_warns_and_views_the_memory(acl):
    host, _ = acl.rt.malloc_host(SIZE)
    with pytest.warns(Warning) as record:
        view = acl.util.ptr_to_numpy(host, (4, 4), 11)  # NPY_FLOAT32
    assert messages(record) == [deprecation("ptr_to_numpy", "ptr_to_bytes")]
    assert view.shape == (4, 4) and view.dtype == np.float32
    view[:] = 1.5
    assert acl.util.ptr_to_bytes(host, 4) == np.float32(1.5).tobytes()


@pytest.mark.parametrize(
    "shape, error, message",
    [
        (16, ValueError, "shape is empty"),  # the extension takes a tuple only
        ([16], ValueError, "shape is empty"),
        ((4, "4"), TypeError, "the second argument is not list of int"),
        ((-1,), ValueError, "negative dimensions"),
    ],
)
def test_ptr_to_numpy_shape_must_be_a_tuple_of_ints(acl, shape, error, message):
    host, _ = acl.rt.malloc_host(64)
    with pytest.warns(Warning), pytest.raises(error, match=message):
        acl.util.ptr_to_numpy(host, shape, 2)


def test_ptr_to_numpy_refuses_unknown_types(acl):
    host, _ = acl.rt.malloc_host(64)
    with pytest.warns(Warning), pytest.raises(ValueError, match="Invalid data-type"):
        acl.util.ptr_to_numpy(host, (4,), 17)  # NPY_OBJECT


# --- registration -----------------------------------------------------------------------------


def test_registered_objects_keep_their_bounds(acl, dev):
    data = bytes(64)
    ptr = acl.util.bytes_to_ptr(data)
    assert acl.rt.memcpy(ptr, 128, dev, 128, 2) == 107000  # would run past the bytes object
    assert "runs past the object" in acl.get_recent_err_msg()
    assert acl.rt.memcpy(ptr + 32, 32, dev, 32, 2) == 0


def test_a_discontiguous_array_is_registered_over_all_its_bytes(acl, dev):
    base = np.zeros(2 * SIZE, dtype=np.uint8)
    reverse = base[::-1]
    with pytest.warns(Warning):
        ptr = acl.util.numpy_to_ptr(reverse)  # its last byte in memory
    region = _state.driver().memory.find(base.ctypes.data, base.nbytes)
    assert region is not None and ptr == region.end - 1


# --- app_log ----------------------------------------------------------------------------------


def test_app_log_returns_none_and_prints_nothing_by_default(acl, capsys, monkeypatch):
    for name in ("ASCEND_LOG_PRINT_TO_STDOUT", "ASCEND_SLOG_PRINT_TO_STDOUT", "ASCEND_GLOBAL_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    assert [acl.app_log(level, f"level {level}") for level in range(4)] == [None] * 4
    assert acl.app_log(9, "a level the runtime drops") is None
    assert capsys.readouterr() == ("", "")
    assert "app_log" in acl.__all__


def test_app_log_prints_to_stdout_when_asked_from_the_global_level_up(acl, capsys, monkeypatch):
    monkeypatch.setenv("ASCEND_LOG_PRINT_TO_STDOUT", "1")
    monkeypatch.delenv("ASCEND_GLOBAL_LOG_LEVEL", raising=False)
    acl.app_log(1, "not shown")
    acl.app_log(3, "shown %s {}")  # printed as given: no formatting
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("[ERROR]") and out[0].endswith('"shown %s {}"')
    monkeypatch.setenv("ASCEND_GLOBAL_LOG_LEVEL", "0")
    acl.app_log(0, "debug")
    assert "[DEBUG]" in capsys.readouterr().out
    monkeypatch.delenv("ASCEND_LOG_PRINT_TO_STDOUT")
    monkeypatch.setenv("ASCEND_SLOG_PRINT_TO_STDOUT", "1")  # the deprecated name still works
    acl.app_log(2, "warning")
    assert "[WARNING]" in capsys.readouterr().out


@pytest.mark.parametrize("args", [("", ""), (123, 321), (1.5, "x"), (3, "nul\0inside"), (3, b"bytes"), (2**31, "x")])
def test_app_log_argument_errors(acl, args):
    with pytest.raises(TypeError, match="^acl.app_log args parse failed$"):
        acl.app_log(*args)
    with pytest.raises(TypeError):
        acl.app_log()
