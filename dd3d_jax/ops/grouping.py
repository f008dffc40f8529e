"""Gathering points or features by index: centres, neighbourhoods, local frames."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gather(values: jax.Array, idx: jax.Array) -> jax.Array:
  """values[b, idx[b, ...]] for every leading batch index.

  Args:
    values: [B, N, C] points or features.
    idx: [B, ...] int indices into N (e.g. [B, S] centres or [B, S, K] neighbourhoods).
  Returns:
    [B, ..., C].
  """
  return jax.vmap(lambda v, i: jnp.take(v, i, axis=0))(values, idx)


def group(points: jax.Array, centres: jax.Array, idx: jax.Array,
          features: jax.Array | None = None) -> jax.Array:
  """Neighbourhoods in the local frames of their centres, as PointNet++ groups them.

  Args:
    points: [B, N, 3]; centres: [B, S, 3]; idx: [B, S, K] neighbours of each centre.
    features: optional [B, N, C] point features, appended after the offsets.
  Returns:
    [B, S, K, 3 (+ C)]: neighbour - centre, then the neighbour's features.
  """
  local = gather(points, idx) - centres[:, :, None, :]
  if features is None:
    return local
  return jnp.concatenate([local, gather(features, idx)], axis=-1)
