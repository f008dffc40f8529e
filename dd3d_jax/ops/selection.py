"""Coreset selection on feature vectors (herding, k-center greedy, nearest the mean) and
on a distance matrix (greedy k-medoids).

Both are greedy loops of `k` steps (`lax.fori_loop`, `k` static) over the rows of
one class's features [N, F]; each step touches [N, F] at most. Rows can be masked
out (`valid`), so that one compiled function serves classes of every size after
padding; if fewer than `k` rows are valid, the remaining slots are -1. Ties go to
the smallest index.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


def _prepare(embeddings: jax.Array, valid: jax.Array | None):
  x = jnp.asarray(embeddings, jnp.float32)
  valid = jnp.ones(x.shape[0], bool) if valid is None else jnp.asarray(valid, bool)
  mean = (x * valid[:, None]).sum(0) / jnp.maximum(valid.sum(), 1)
  return x, valid, mean


def herding(embeddings: jax.Array, k: int, valid: jax.Array | None = None) -> jax.Array:
  """Herding (Welling 2009): at step t keep the row whose addition brings the mean of
  the chosen rows closest to the mean of all valid rows.

  Args:
    embeddings: [N, F] features of one class.
    k: rows to choose (static).
    valid: optional [N] bool; invalid rows are never chosen nor averaged.
  Returns:
    [k] int32 row indices in the order chosen, -1 where no valid row was left.
  """
  x, valid, mean = _prepare(embeddings, valid)

  def body(t, carry):
    total, available, out = carry
    gap = jnp.sum(jnp.square(mean - (total + x) / (t + 1)), axis=-1)        # [N]
    i = jnp.argmin(jnp.where(available, gap, jnp.inf))
    ok = available[i]
    return (total + jnp.where(ok, x[i], 0.0), available.at[i].set(False),
            out.at[t].set(jnp.where(ok, i, -1)))

  init = (jnp.zeros(x.shape[1], jnp.float32), valid, jnp.full(k, -1, jnp.int32))
  return jax.lax.fori_loop(0, k, body, init)[2]


def k_center(embeddings: jax.Array, k: int, valid: jax.Array | None = None) -> jax.Array:
  """K-center greedy (Sener & Savarese 2018): start with the row nearest the mean, then
  repeatedly add the row farthest (Euclidean) from its nearest chosen row.

  Args and returns as `herding`.
  """
  x, valid, mean = _prepare(embeddings, valid)
  first = jnp.argmin(jnp.where(valid, jnp.sum(jnp.square(x - mean), -1), jnp.inf))
  ok = valid[first]
  out = jnp.full(k, -1, jnp.int32).at[0].set(jnp.where(ok, first, -1))
  nearest = jnp.sum(jnp.square(x - x[first]), axis=-1)                      # [N]

  def body(t, carry):
    nearest, available, out = carry
    i = jnp.argmax(jnp.where(available, nearest, -jnp.inf))
    ok = available[i]
    nearest = jnp.minimum(nearest, jnp.sum(jnp.square(x - x[i]), axis=-1))
    return nearest, available.at[i].set(False), out.at[t].set(jnp.where(ok, i, -1))

  return jax.lax.fori_loop(1, k, body, (nearest, valid.at[first].set(False), out))[2]


def nearest_mean(embeddings: jax.Array, k: int, valid: jax.Array | None = None) -> jax.Array:
  """The `k` valid rows nearest the mean of the valid rows, nearest first (PCC's start,
  Zhang et al. 2024): [k] int32 indices, -1 where fewer than k rows are valid."""
  x, valid, mean = _prepare(embeddings, valid)
  distance = jnp.where(valid, jnp.sum(jnp.square(x - mean), axis=-1), jnp.inf)
  order = jnp.argsort(distance, stable=True)[:k].astype(jnp.int32)
  return jnp.where(valid[order], order, -1)


def k_medoids(distances: jax.Array, k: int, valid: jax.Array | None = None) -> jax.Array:
  """Greedy k-medoids (the BUILD step of PAM, Kaufman & Rousseeuw 1990): at step t keep
  the row whose addition most lowers the sum, over the valid rows, of each row's distance
  to its nearest kept row. The first pick is the medoid (the row of least total distance);
  later picks cover what the earlier ones leave far.

  Args:
    distances: [N, N] pairwise distances of one class's rows (any dissimilarity; the
      diagonal should be 0).
    k: rows to choose (static).
    valid: optional [N] bool; invalid rows are never chosen nor counted.
  Returns:
    [k] int32 row indices in the order chosen, -1 where no valid row was left.
  """
  d = jnp.asarray(distances, jnp.float32)
  valid = jnp.ones(d.shape[0], bool) if valid is None else jnp.asarray(valid, bool)

  def body(t, carry):
    nearest, available, out = carry
    total = jnp.where(valid[None, :], jnp.minimum(nearest[None, :], d), 0.0).sum(-1)  # [N]
    i = jnp.argmin(jnp.where(available, total, jnp.inf))
    ok = available[i]
    return (jnp.where(ok, jnp.minimum(nearest, d[i]), nearest), available.at[i].set(False),
            out.at[t].set(jnp.where(ok, i, -1)))

  init = (jnp.full(d.shape[0], jnp.inf, jnp.float32), valid, jnp.full(k, -1, jnp.int32))
  return jax.lax.fori_loop(0, k, body, init)[2]


def select_per_class(select_fn: Callable, embeddings: np.ndarray, labels: np.ndarray,
                     num_classes: int, k: int) -> np.ndarray:
  """Runs `select_fn(features, k, valid)` on each class, compiled once for all classes.

  Args:
    select_fn: `herding`, `k_center` or `nearest_mean` (or any function of that signature).
    embeddings: [N, F] features of every training cloud; labels: [N] int classes.
    num_classes: K; k: rows per class.
  Returns:
    Indices into the N rows, class-major, min(k, count_c) per class in greedy order.
  """
  labels = np.asarray(labels)
  members = [np.flatnonzero(labels == c) for c in range(num_classes)]
  width = max(len(m) for m in members)
  select = jax.jit(select_fn, static_argnums=1)
  out = []
  for m in members:
    rows = np.zeros((width, embeddings.shape[1]), np.float32)
    rows[:len(m)] = embeddings[m]
    picked = np.asarray(select(rows, k, np.arange(width) < len(m)))
    out.append(m[picked[picked >= 0]])
  return np.concatenate(out).astype(np.int64)
