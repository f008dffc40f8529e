"""Farthest point sampling against a NumPy brute force, ties and small clouds included."""

import numpy as np
import pytest

from dd3d_jax.ops.sampling import farthest_point_sampling


def fps_reference(points, s):
  """The PointNet++ kernel's loop, literally."""
  idx, dist = [0], np.full(len(points), np.inf)
  for _ in range(1, s):
    dist = np.minimum(dist, ((points - points[idx[-1]]) ** 2).sum(-1))
    idx.append(int(np.argmax(dist)))
  return np.array(idx)


@pytest.mark.parametrize('n, s', [(50, 8), (16, 16), (5, 9)])  # S < N, S = N, S > N
def test_matches_the_brute_force(n, s):
  points = np.random.default_rng(n).normal(size=(3, n, 3)).astype(np.float32)
  got = np.asarray(farthest_point_sampling(points, s))
  assert got.shape == (3, s) and got.dtype == np.int32
  for b in range(3):
    np.testing.assert_array_equal(got[b], fps_reference(points[b].astype(np.float64), s))


def test_distinct_centres_while_points_last_then_point_zero():
  points = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
  got = np.asarray(farthest_point_sampling(points, 9))
  assert sorted(got[:6]) == list(range(6)) and (got[6:] == 0).all()


def test_ties_go_to_the_smaller_index_and_leading_axes_are_kept():
  square = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32)
  np.testing.assert_array_equal(farthest_point_sampling(square, 3), [0, 3, 1])
  assert farthest_point_sampling(np.zeros((2, 3, 10, 3), np.float32), 4).shape == (2, 3, 4)
