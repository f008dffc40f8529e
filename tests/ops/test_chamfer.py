"""Chamfer distance against a NumPy brute force; symmetry, zero on equal sets, gradients."""

import jax
import numpy as np

from dd3d_jax.ops.chamfer import chamfer_distance, pairwise_chamfer


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


def labelled_reference(a, b, la, lb):
  """Per point, the nearest point of the same label; points without one are left out."""
  d = ((a[:, None] - b[None]) ** 2).sum(-1)
  same = la[:, None] == lb[None]
  a_near = [d[i][same[i]].min() for i in range(len(a)) if same[i].any()]
  b_near = [d[:, j][same[:, j]].min() for j in range(len(b)) if same[:, j].any()]
  return np.mean(a_near) + np.mean(b_near)


def test_labelled_matches_the_brute_force_and_leaves_out_labels_one_side_lacks():
  rng = np.random.default_rng(2)
  a, b = rng.normal(size=(2, 20, 3)), rng.normal(size=(2, 15, 3))
  la, lb = rng.integers(0, 3, (2, 20)), rng.integers(0, 3, (2, 15))
  lb[1][lb[1] == 2] = 1  # the second b lacks label 2: a's label-2 points are left out
  got = chamfer_distance(a.astype(np.float32), b.astype(np.float32), la, lb)
  np.testing.assert_allclose(got, [labelled_reference(a[i], b[i], la[i], lb[i])
                                   for i in range(2)], rtol=1e-5)
  # one label everywhere: the plain distance
  np.testing.assert_allclose(chamfer_distance(a, b, np.zeros((2, 20), int), np.zeros((2, 15), int)),
                             chamfer_distance(a, b), rtol=1e-6)
  grad = jax.grad(lambda x: chamfer_distance(x, b[1], la[1], lb[1]))(a[1].astype(np.float32))
  assert np.isfinite(grad).all() and not grad[la[1] == 2].any()


def test_pairwise_matches_every_pair_with_and_without_labels():
  rng = np.random.default_rng(3)
  points = rng.normal(size=(5, 16, 3)).astype(np.float32)
  labels = rng.integers(0, 3, size=(5, 16))
  for given in (None, labels):
    got = np.asarray(pairwise_chamfer(points, given))
    want = [[float(chamfer_distance(points[i], points[j], *(
        () if given is None else (given[i], given[j])))) for j in range(5)] for i in range(5)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, got.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.diag(got), 0.0, atol=1e-6)
