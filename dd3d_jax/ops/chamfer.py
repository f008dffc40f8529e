"""Chamfer distance between point clouds (fitting a generator row to a real cloud)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dd3d_jax.ops.neighbors import square_distances


def chamfer_distance(a: jax.Array, b: jax.Array, a_labels: jax.Array | None = None,
                     b_labels: jax.Array | None = None) -> jax.Array:
  """Symmetric Chamfer distance: the mean squared distance of each point of `a` to its
  nearest point of `b`, plus the same from `b` to `a`.

  With labels (part ids), a point's nearest neighbour is sought among the other
  cloud's points of its own label, and a point whose label the other cloud lacks is
  left out of its mean: the sum over labels of each part's Chamfer terms, weighted by
  the part's share of the points.

  Args:
    a: [..., N, 3]; b: [..., M, 3] (same leading axes).
    a_labels: optional [..., N] int; b_labels: [..., M] int (both or neither).
  Returns:
    [...] distances (differentiable in both clouds; 0 iff the (labelled) point sets
    are equal).
  """
  d = square_distances(a, b)                                  # [..., N, M]
  if a_labels is None:
    return d.min(axis=-1).mean(axis=-1) + d.min(axis=-2).mean(axis=-1)
  d = jnp.where(a_labels[..., :, None] == b_labels[..., None, :], d, jnp.inf)

  def mean_nearest(nearest):  # the mean over the points that have a counterpart
    found = jnp.isfinite(nearest)
    return (jnp.where(found, nearest, 0.0).sum(axis=-1)
            / jnp.maximum(found.sum(axis=-1), 1))

  return mean_nearest(d.min(axis=-1)) + mean_nearest(d.min(axis=-2))


def pairwise_chamfer(points: jax.Array, labels: jax.Array | None = None) -> jax.Array:
  """The Chamfer distance (`chamfer_distance`, with labels if given) between every pair
  of clouds, one row of the matrix at a time (memory [W, N, N], not [W, W, N, N]).

  Args:
    points: [W, N, 3] clouds; labels: optional [W, N] int part ids.
  Returns:
    [W, W] symmetric, 0 on the diagonal.
  """
  points = jnp.asarray(points)
  labels = None if labels is None else jnp.asarray(labels)

  def row(i):
    a = jnp.broadcast_to(points[i], points.shape)
    if labels is None:
      return chamfer_distance(a, points)
    return chamfer_distance(a, points, jnp.broadcast_to(labels[i], labels.shape), labels)

  return jax.lax.map(row, jnp.arange(points.shape[0]))
