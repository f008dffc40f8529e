"""Gather and group against NumPy indexing."""

import numpy as np

from dd3d_jax.ops.grouping import gather, group


def test_gather_and_group_match_numpy_indexing():
  rng = np.random.default_rng(0)
  points = rng.normal(size=(2, 10, 3)).astype(np.float32)
  feats = rng.normal(size=(2, 10, 5)).astype(np.float32)
  centre_idx = np.array([[0, 4], [9, 1]])
  idx = rng.integers(0, 10, size=(2, 2, 3))
  centres = np.asarray(gather(points, centre_idx))
  np.testing.assert_array_equal(centres, np.stack([points[b][centre_idx[b]] for b in range(2)]))
  out = np.asarray(group(points, centres, idx, feats))
  assert out.shape == (2, 2, 3, 8)
  for b in range(2):
    for s in range(2):
      np.testing.assert_allclose(out[b, s, :, :3], points[b][idx[b, s]] - centres[b, s])
      np.testing.assert_array_equal(out[b, s, :, 3:], feats[b][idx[b, s]])
