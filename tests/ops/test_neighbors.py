"""kNN and ball query against NumPy brute force: ties, small clouds, empty balls."""

import numpy as np
import pytest

from dd3d_jax.ops.neighbors import ball_query, knn, square_distances


def knn_reference(q, p, k):
  d = ((q[:, None] - p[None]) ** 2).sum(-1)
  order = np.argsort(d, axis=1, kind='stable')[:, :k]  # stable: ties to the smaller index
  if k > p.shape[0]:
    order = np.concatenate([order, np.repeat(order[:, :1], k - p.shape[0], 1)], 1)
  return order


def ball_reference(q, p, r, k):
  out = np.zeros((len(q), k), int)
  for s in range(len(q)):
    found = [n for n in range(len(p)) if ((q[s] - p[n]) ** 2).sum() < r * r][:k]
    if found:
      out[s] = found + [found[0]] * (k - len(found))
  return out


@pytest.mark.parametrize('n, k, c', [(40, 5, 3), (6, 6, 3), (4, 7, 3), (30, 4, 16)])
def test_knn_matches_the_brute_force(n, k, c):
  rng = np.random.default_rng(n)
  p = rng.normal(size=(2, n, c)).astype(np.float32)
  q = p[:, : n // 2]
  got = np.asarray(knn(q, p, k))
  assert got.shape == (2, n // 2, k) and got.dtype == np.int32
  for b in range(2):
    np.testing.assert_array_equal(got[b], knn_reference(q[b], p[b], k))
  assert (got[..., 0] == np.arange(n // 2)).all()  # a point is its own nearest


def test_knn_ties_go_to_the_smaller_index():
  p = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, 0, 0]], np.float32)
  np.testing.assert_array_equal(knn(np.zeros((1, 3), np.float32), p, 4), [[3, 0, 1, 2]])


@pytest.mark.parametrize('n, k, r', [(60, 8, 0.5), (60, 8, 0.01), (5, 12, 10.0), (60, 4, 1.0)])
def test_ball_query_matches_the_reference_kernel(n, k, r):
  rng = np.random.default_rng(k)
  p = rng.uniform(-1, 1, size=(2, n, 3)).astype(np.float32)
  q = np.concatenate([p[:, :10], np.full((2, 1, 3), 50.0, np.float32)], 1)  # + a far query
  got = np.asarray(ball_query(q, p, r, k))
  for b in range(2):
    np.testing.assert_array_equal(got[b], ball_reference(q[b].astype(np.float64),
                                                         p[b].astype(np.float64), r, k))
  assert (got[:, -1] == 0).all()  # nothing within the radius: index 0


def test_square_distances_are_exact_zero_on_the_diagonal():
  p = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32) * 100
  d = np.asarray(square_distances(p, p))
  assert (np.diag(d) == 0).all() and (d >= 0).all()
