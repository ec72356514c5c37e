"""The shared argument checks behind every public entry point."""

import re
import warnings

import numpy as np
import pytest

import minnet as mn
from minnet._validation import as_batch, as_float_array, as_generator, as_target


def test_integer_and_boolean_data_become_float64():
    assert as_float_array("x", [[1, 2]]).dtype == np.float64
    assert as_float_array("x", [[True, False]]).dtype == np.float64


def test_a_float_array_of_the_right_dtype_is_not_copied():
    x = np.ones((3, 2), np.float32)
    assert as_float_array("x", x, np.float32) is x


def test_strings_and_ragged_lists_are_refused():
    with pytest.raises(TypeError, match="x must hold numbers"):
        as_float_array("x", [["a", "b"]])
    with pytest.raises(ValueError, match="x must be a rectangular array"):
        as_float_array("x", [[1, 2], [3]])


def test_a_finite_float64_value_too_large_for_float32_is_named():
    with pytest.raises(ValueError, match=r"target holds 1e\+300, which does not fit in float32"):
        mn.MSE().forward(np.zeros((2, 1), np.float32), np.array([1e300, 0.0]))


def test_a_flat_target_is_reshaped_for_one_output_and_refused_otherwise():
    assert as_target("y", [1.0, 0.0], (2, 1)).shape == (2, 1)
    with pytest.raises(ValueError, match=r"y must have shape \(2, 2\)"):
        as_target("y", [1.0, 0.0], (2, 2))


def test_nan_position_is_reported():
    with pytest.raises(ValueError, match=r"x must be finite, got nan at index \(1, 0\)"):
        as_batch("x", [[1.0, 2.0], [np.nan, 0.0]])


def test_negative_seeds_are_refused_where_weights_and_checks_are_drawn():
    with pytest.raises(ValueError, match="seed must be a non-negative integer seed, got -1"):
        mn.Dense(2, 2, rng=-1)
    with pytest.raises(TypeError, match="seed must be None, an integer seed or a np.random.Generator, got 'a'"):
        mn.gradcheck(mn.ReLU(), np.ones((2, 2)), seed="a")


def test_as_generator_uses_a_generator_as_is_and_seeds_a_fresh_one_from_an_int():
    gen = np.random.default_rng(0)
    assert as_generator("seed", gen) is gen
    assert as_generator("seed", 5).random() == as_generator("seed", np.int64(5)).random()
    assert isinstance(as_generator("seed", None), np.random.Generator)
    with pytest.raises(TypeError, match="seed must be None, an integer seed or a np.random.Generator, got True"):
        as_generator("seed", True)
    with pytest.raises(ValueError, match="rng must be a non-negative integer seed, got -2"):
        as_generator("rng", -2)


# -- inputs of other kinds ------------------------------------------------------


def test_a_masked_array_with_masked_entries_is_refused_everywhere_data_enters():
    X = np.ma.masked_array(np.ones((4, 2)), mask=[[0, 0], [0, 1], [0, 0], [1, 0]])
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    for call in (
        lambda: mn.fit(model, mn.MSE(), mn.SGD(model.parameters(), lr=0.1), X, np.zeros(4), epochs=1),
        lambda: model.predict(X),
        lambda: mn.evaluate(model, mn.MSE(), X, np.zeros(4)),
        lambda: mn.data.Standardizer().fit(X),
    ):
        with pytest.raises(TypeError, match=r"(?i)X is a masked array with 2 masked entries.*X.filled\(value\)"):
            call()


def test_a_masked_array_without_masked_entries_is_its_data():
    X = np.ma.masked_array(np.arange(6.0).reshape(3, 2), mask=False)
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    np.testing.assert_array_equal(model.predict(X), model.predict(np.arange(6.0).reshape(3, 2)))


def test_a_torch_tensor_that_requires_grad_is_taken_as_its_values():
    torch = pytest.importorskip("torch")
    t = torch.ones((3, 2), dtype=torch.float64, requires_grad=True)
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    np.testing.assert_array_equal(model.predict(t), model.predict(np.ones((3, 2))))
    assert t.grad is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(300, 7), (40, 3, 5, 5), (9, 1)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_data_checks_find_a_non_finite_value_anywhere(rng, dtype, shape, bad):
    # fit checks its data by BLAS row sums; each position must still be caught and named.
    x = rng.standard_normal(shape).astype(dtype)
    for position in rng.choice(x.size, size=5, replace=False):
        y = x.copy()
        y.flat[position] = bad
        where = tuple(int(i) for i in np.unravel_index(position, shape))
        with pytest.raises(ValueError, match=rf"x must be finite, got -?(nan|inf) at index {re.escape(str(where))}"):
            as_batch("x", y, dtype)
    layouts = [x, np.asfortranarray(x), x[::-1]] if x.ndim == 2 else [x, x[:, ::-1]]
    for layout in layouts:
        assert as_batch("x", layout, dtype) is not None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_data_whose_row_sums_overflow_is_still_finite(dtype):
    big = np.full((6, 4), np.finfo(dtype).max / 2, dtype)
    big[::2] *= -1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(as_batch("x", big, dtype), big)
