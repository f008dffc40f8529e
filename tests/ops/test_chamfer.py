"""Chamfer distance against a NumPy brute force; symmetry, zero on equal sets, gradients."""

import jax
import numpy as np

from dd3d_jax.ops.chamfer import chamfer_distance


def chamfer_reference(a, b):
  d = ((a[:, None] - b[None]) ** 2).sum(-1)
  return d.min(1).mean() + d.min(0).mean()


def test_matches_the_brute_force_and_is_symmetric():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(3, 20, 3)), rng.normal(size=(3, 13, 3))
  got = np.asarray(chamfer_distance(a.astype(np.float32), b.astype(np.float32)))
  np.testing.assert_allclose(got, [chamfer_reference(a[i], b[i]) for i in range(3)], rtol=1e-5)
  np.testing.assert_allclose(chamfer_distance(b, a), chamfer_distance(a, b), rtol=1e-6)


def test_zero_for_the_same_set_in_any_order_and_descent_lowers_it():
  rng = np.random.default_rng(1)
  a = rng.normal(size=(16, 3)).astype(np.float32)
  assert float(chamfer_distance(a, a[rng.permutation(16)])) == 0.0
  b = rng.normal(size=(16, 3)).astype(np.float32)
  grad = jax.grad(chamfer_distance)(b, a)
  assert float(chamfer_distance(b - 0.1 * grad, a)) < float(chamfer_distance(b, a))
