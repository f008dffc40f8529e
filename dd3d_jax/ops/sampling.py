"""Farthest point sampling: the centres of every set-abstraction backbone.

As the CUDA kernel of the PointNet++ reference (`furthest_point_sampling_kernel` in
erikwijmans/Pointnet2_PyTorch): the first centre is point 0, each next one is the
point farthest from the centres so far (squared Euclidean distance, ties to the
smaller index). A cloud with fewer points than centres asked for repeats point 0
once every point is taken (its remaining distances are all 0), as the kernel does.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


def _fps(points: jax.Array, num_centres: int) -> jax.Array:
  """points [N, 3] -> indices [num_centres] int32."""
  def body(i, carry):
    idx, dist = carry
    last = points[idx[i - 1]]
    dist = jnp.minimum(dist, jnp.sum((points - last) ** 2, axis=-1))
    return idx.at[i].set(jnp.argmax(dist).astype(jnp.int32)), dist

  idx = jnp.zeros((num_centres,), jnp.int32)
  dist = jnp.full(points.shape[:1], jnp.inf, points.dtype)
  idx, _ = jax.lax.fori_loop(1, num_centres, body, (idx, dist))
  return idx


@partial(jax.jit, static_argnames='num_centres')
def farthest_point_sampling(points: jax.Array, num_centres: int) -> jax.Array:
  """Indices of `num_centres` farthest-point centres of each cloud.

  Args:
    points: [..., N, 3] clouds (any leading axes).
    num_centres: S, static.
  Returns:
    [..., S] int32 indices into the N axis.
  """
  return jnp.vectorize(lambda p: _fps(p, num_centres), signature='(n,c)->(s)')(points)
