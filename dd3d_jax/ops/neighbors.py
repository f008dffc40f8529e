"""Neighbourhoods of query points in a cloud: k nearest neighbours and ball query.

Dense squared distances [S, N] then a top-k: at the sizes of point-cloud
classification (N <= 2,048) this is faster on every backend than a spatial index.
Ties go to the smaller index everywhere, so results are deterministic.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


def square_distances(queries: jax.Array, points: jax.Array) -> jax.Array:
  """||q_s - p_n||^2: queries [..., S, C], points [..., N, C] -> [..., S, N].

  Computed as a difference (not the |q|^2 + |p|^2 - 2 q.p expansion), so it is exactly
  0 for a query that is one of the points and never negative.
  """
  return jnp.sum((queries[..., :, None, :] - points[..., None, :, :]) ** 2, axis=-1)


def _smallest(keys: jax.Array, k: int) -> jax.Array:
  """Indices of the k smallest keys along the last axis, ascending, ties to the
  smaller index; if k exceeds the axis, the last column repeats the nearest (column 0)."""
  n = keys.shape[-1]
  _, idx = jax.lax.top_k(-keys, min(k, n))
  if k > n:
    idx = jnp.concatenate([idx, jnp.repeat(idx[..., :1], k - n, axis=-1)], axis=-1)
  return idx.astype(jnp.int32)


@partial(jax.jit, static_argnames='k')
def knn(queries: jax.Array, points: jax.Array, k: int) -> jax.Array:
  """The k nearest points of each query (itself included, if it is one of them).

  Args:
    queries: [..., S, C]; points: [..., N, C] (same leading axes; any C, so that DGCNN
      can search in feature space).
    k: neighbours per query, static; if k > N the nearest is repeated to fill.
  Returns:
    [..., S, k] int32 indices into N, nearest first.
  """
  return _smallest(square_distances(queries, points), k)


@partial(jax.jit, static_argnames='num_neighbours')
def ball_query(queries: jax.Array, points: jax.Array, radius: float,
               num_neighbours: int) -> jax.Array:
  """The first `num_neighbours` points (in index order) within `radius` of each query,
  padded with the first one found, as the PointNet++ reference's `query_ball_point`
  kernel; a query with no point within the radius gets index 0 throughout.

  Args:
    queries: [..., S, 3]; points: [..., N, 3].
    radius: the ball radius (points with squared distance < radius^2 count).
    num_neighbours: K, static.
  Returns:
    [..., S, K] int32 indices into N.
  """
  n = points.shape[-2]
  inside = square_distances(queries, points) < radius ** 2
  order = jnp.where(inside, jnp.arange(n), n)  # points outside sort after every inside one
  idx = _smallest(order, num_neighbours)
  idx = jnp.take_along_axis(order, idx, axis=-1)  # the ranks are the indices themselves
  first = jnp.where(idx[..., :1] == n, 0, idx[..., :1])
  return jnp.where(idx == n, first, idx).astype(jnp.int32)
