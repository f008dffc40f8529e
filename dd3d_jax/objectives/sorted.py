"""SADM's objective (Yim, Kim & Sim, NeurIPS 2025): sorted point-wise features and an
RBF-kernel MMD of global features, under a fresh untrained network.

Follows `main.py` and `utils.py` (`RBF`, `M3DLoss`) of donguk071/SADM (commit 036cb97):
per class,

    0.2 * mean_n sum_c (mean_b sort_n(F_real)[b, n, c] - mean_b sort_n(F_syn)[b, n, c])^2
    + 0.001 * MMD(G_real, G_syn)

where F are the features of the last point-wise layer (before the max-pool), each
channel sorted over the points in descending order, and G the global features.
Sorting makes the first term independent of the order of the points; the mean over
the batch compares the classes' feature distributions, not individual clouds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dd3d_jax.ops.sorting import sort_descending


def _valid(mask: jax.Array | None, n: int, dtype) -> jax.Array:
  return jnp.ones((n,), dtype) if mask is None else jnp.asarray(mask, dtype)


def sorted_feature_distance(real: jax.Array, syn: jax.Array,
                            real_mask: jax.Array | None = None) -> jax.Array:
  """SADM's first term (unweighted).

  Args:
    real: [B, N, C] point-wise features of real clouds; syn: [S, N, C] of synthetic
      ones (the same number of points N).
    real_mask: optional [B]: 0 drops a padded real cloud (a class smaller than B).
  Returns:
    scalar: mean over the N ranks of the summed squared gap over the C channels between
    the batch means of the descending per-channel sorts.
  """
  real, syn = jnp.asarray(real), jnp.asarray(syn)
  valid = _valid(real_mask, real.shape[0], real.dtype)
  real_sorted = sort_descending(real, -2)                       # [B, N, C]
  real_mean = jnp.einsum('b,bnc->nc', valid / valid.sum(), real_sorted)
  syn_mean = sort_descending(syn, -2).mean(axis=0)
  return jnp.sum((real_mean - syn_mean) ** 2, axis=-1).mean()


def gram_square_distances(x: jax.Array, y: jax.Array | None = None) -> jax.Array:
  """||x_i - y_j||^2 of the rows of x [M, F] and y [S, F] (y = x when None) -> [M, S],
  from inner products (no [M, S, F] difference tensor: 3DDP's rows are whole sorted
  feature maps, F ~ 60k), at least 0, and exactly 0 on the diagonal when y is None."""
  same = y is None
  y = x if same else y
  gram = jnp.matmul(x, y.T, precision=jax.lax.Precision.HIGHEST)
  d2 = jnp.maximum(jnp.sum(x * x, -1)[:, None] + jnp.sum(y * y, -1)[None] - 2 * gram, 0)
  return d2 * (1 - jnp.eye(len(x), dtype=x.dtype)) if same else d2


def mmd_from_distances(dxx: jax.Array, dxy: jax.Array, dyy: jax.Array,
                       x_mask: jax.Array | None = None, num_kernels: int = 5,
                       mul_factor: float = 2.0) -> jax.Array:
  """`rbf_mmd` from the blocks of squared distances ([B, B], [B, S], [S, S];
  `gram_square_distances`), so that a loss comparing several x with one y computes the
  [S, S] block once."""
  b, s = dxy.shape
  ux = _valid(x_mask, b, dxy.dtype)
  total = ux.sum() + s
  ux, uy = ux / total, jnp.full((s,), 1 / total, dxy.dtype)  # uniform over the real rows
  spread = ux @ dxx @ ux + 2 * ux @ dxy @ uy + uy @ dyy @ uy
  bandwidth = jax.lax.stop_gradient(spread / (1 - ux @ ux - uy @ uy))
  scales = bandwidth * mul_factor ** (jnp.arange(num_kernels) - num_kernels // 2)
  kernel = lambda d2: jnp.exp(-d2[None] / scales[:, None, None]).sum(axis=0)  # noqa: E731
  wx = ux / ux.sum()
  return wx @ kernel(dxx) @ wx - 2 * (wx @ kernel(dxy)).mean() + kernel(dyy).mean()


def rbf_mmd(x: jax.Array, y: jax.Array, x_mask: jax.Array | None = None,
            num_kernels: int = 5, mul_factor: float = 2.0) -> jax.Array:
  """Squared MMD with SADM's multi-bandwidth Gaussian kernel.

  The kernel sums exp(-||u - v||^2 / (h * m)) over m = mul_factor^(i - num_kernels // 2),
  i < num_kernels, where h is the mean squared distance between distinct rows of [x; y]
  (treated as a constant, as the reference's `.data`).

  Args:
    x: [B, F]; y: [S, F].
    x_mask: optional [B]: 0 drops a padded row of x (as if it were not there).
  Returns:
    scalar: mean k(x, x) - 2 mean k(x, y) + mean k(y, y).
  """
  x, y = jnp.asarray(x), jnp.asarray(y)
  return mmd_from_distances(gram_square_distances(x), gram_square_distances(x, y),
                            gram_square_distances(y), x_mask, num_kernels, mul_factor)


def sadm_loss(real_pointwise: jax.Array, syn_pointwise: jax.Array, real_global: jax.Array,
              syn_global: jax.Array, real_mask: jax.Array | None = None,
              sorted_weight: float = 0.2, mmd_weight: float = 0.001) -> jax.Array:
  """One class's SADM loss: `sorted_weight * sorted_feature_distance + mmd_weight * rbf_mmd`.

  Args:
    real_pointwise: [B, N, C]; syn_pointwise: [S, N, C]; real_global: [B, F];
      syn_global: [S, F]; real_mask: optional [B] (0: a padded real cloud).
  """
  return (sorted_weight * sorted_feature_distance(real_pointwise, syn_pointwise, real_mask)
          + mmd_weight * rbf_mmd(real_global, syn_global, real_mask))
