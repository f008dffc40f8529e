"""Chamfer distance between point clouds (fitting a generator row to a real cloud)."""

from __future__ import annotations

import jax

from dd3d_jax.ops.neighbors import square_distances


def chamfer_distance(a: jax.Array, b: jax.Array) -> jax.Array:
  """Symmetric Chamfer distance: the mean squared distance of each point of `a` to its
  nearest point of `b`, plus the same from `b` to `a`.

  Args:
    a: [..., N, 3]; b: [..., M, 3] (same leading axes).
  Returns:
    [...] distances (differentiable in both clouds; 0 iff the point sets are equal).
  """
  d = square_distances(a, b)                                  # [..., N, M]
  return d.min(axis=-1).mean(axis=-1) + d.min(axis=-2).mean(axis=-1)
