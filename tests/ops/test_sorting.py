import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dd3d_jax.ops import sorting


SORT = jax.jit(sorting.sort_descending, static_argnums=1)
ARGSORT = jax.jit(sorting.argsort_descending, static_argnums=1)


@pytest.mark.parametrize('n', [1, 3, 8, 33])
@pytest.mark.parametrize('axis', [0, 1, -1])
def test_sort_and_argsort_equal_a_stable_descending_numpy_sort_with_ties(n, axis):
  rng = np.random.default_rng(n)
  shape = [5, 4, 3]
  shape[axis] = n
  x = rng.integers(-3, 4, size=shape).astype(np.float32)  # many ties
  x[(0,) * (x.ndim - 1)] = -np.inf
  order = np.argsort(-x, axis=axis, kind='stable')
  np.testing.assert_array_equal(ARGSORT(x, axis), order)
  np.testing.assert_array_equal(SORT(x, axis), np.take_along_axis(x, order, axis=axis))


@pytest.mark.parametrize('n', [128, 129])
def test_the_argsort_counts_past_its_narrow_index_type(n):
  """Rows of 128 still fit int8 indices, 129 take int16: both equal NumPy's order."""
  x = np.random.default_rng(0).integers(-20, 20, size=(2, n)).astype(np.float32)
  np.testing.assert_array_equal(ARGSORT(x, -1), np.argsort(-x, axis=-1, kind='stable'))


def test_derivatives_equal_those_of_jnp_sort_in_float64():
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(0), (2, 12, 3), jnp.float64)
    w = jax.random.normal(jax.random.key(1), x.shape, jnp.float64)

    def loss(sort):
      return lambda y: jnp.sum(w * sort(y) ** 2)

    ours, ref = loss(lambda y: SORT(y, 1)), loss(lambda y: -jnp.sort(-y, axis=1))
    np.testing.assert_allclose(jax.jit(jax.grad(ours))(x), jax.grad(ref)(x), rtol=1e-12)
    check_grads(jax.jit(lambda y: sorting.sort_descending(y, 1)), (x,), order=2,
                modes=['fwd', 'rev'])


def test_the_derivative_moves_each_tangent_to_its_rank():
  x = jnp.array([0.5, 2.0, -1.0, 2.0])
  _, tangent = jax.jvp(jax.jit(sorting.sort_descending), (x,),
                       (jnp.array([10., 20., 30., 40.]),))
  np.testing.assert_array_equal(tangent, [20., 40., 10., 30.])  # ties in input order
