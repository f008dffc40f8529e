"""3DDP's objective (Kim, Yim et al., ICLR 2026): sorted point-wise features of morphed
low-resolution clouds against the FPS partitions of real clouds, by a kernel MMD weighted
by how uniform each partition is.

Follows `scripts/train.py` (its default loss, `fReshape_nodup`) and `ops/pc_ops.py`
(`get_uniformity_score`) of yimjae0/3DDP (commit b7d8dde). Per class:

  * each real cloud is split into S partitions of P points by farthest point sampling:
    the first P points of its FPS order, then the first P of the rest's FPS order, ...
    (`fps_partition`), so every partition covers the whole shape at a lower resolution;
  * the synthetic clouds are the class's anchor chunks and their morphs (`morph`);
  * the loss is `weight * sum_s w_s * MMD(real partitions s, synthetic clouds)` over the
    flattened features |F| sorted over the points per channel, with SADM's
    multi-bandwidth Gaussian kernel (`sorted.rbf_mmd`; the synthetic clouds' distances
    computed once for all partitions) and partition weights
    w_s = exp(-lambda (u_s - u)^2), normalised to sum 1, where u_s is the mean uniformity
    score of partition s and u that of the whole real clouds (`uniformity_weights`).
    `weight` is the reference's 0.2 * 4 / 10 per class.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dd3d_jax.objectives.sorted import gram_square_distances, mmd_from_distances
from dd3d_jax.ops.neighbors import knn
from dd3d_jax.ops.sampling import farthest_point_sampling
from dd3d_jax.ops.sorting import sort_descending

WEIGHT = 0.2 * 4 / 10  # `loss1 += m3d(..) * penalty[n] * 0.2 * 4 / penalty.sum()`, then `/ 10`
NEIGHBOURS = 16        # `get_uniformity_score`'s kNN


def morph(chunks: jax.Array, alpha: jax.Array) -> jax.Array:
  """Morphed clouds: softmax(alpha)-weighted sums of an anchor's aligned chunks.

  Args:
    chunks: [..., S, P, 3] an anchor's S chunks (point p of every chunk corresponds).
    alpha: [..., M, S] mixing logits of its M morphs.
  Returns:
    [..., M, P, 3].
  """
  return jnp.einsum('...ms,...spc->...mpc', jax.nn.softmax(alpha, axis=-1), chunks)


def synthetic_clouds(chunks: jax.Array, alpha: jax.Array) -> jax.Array:
  """One class's training clouds as 3DDP trains and exports them: its anchors' chunks,
  then their morphs. chunks: [A, S, P, 3]; alpha: [A, M, S] -> [A * (S + M), P, 3]."""
  p = chunks.shape[-2]
  return jnp.concatenate([chunks.reshape(-1, p, 3), morph(chunks, alpha).reshape(-1, p, 3)])


def fps_partition(points: jax.Array, parts: int, part_points: int) -> jax.Array:
  """The FPS partitions of each cloud (the reference's `pc_real_div`).

  Partition 0 is the first `part_points` points of the cloud's farthest-point order
  (`ops.sampling`: from point 0); partition s + 1 the first `part_points` of the FPS
  order of what is left. Points beyond `parts * part_points` are dropped.

  Args:
    points: [..., N, 3] with N >= parts * part_points.
  Returns:
    [..., parts, part_points, 3].
  """
  out, rest = [], points
  for _ in range(parts):
    order = farthest_point_sampling(rest, rest.shape[-2])
    rest = jnp.take_along_axis(rest, order[..., None], axis=-2)
    out.append(rest[..., :part_points, :])
    rest = rest[..., part_points:, :]
  return jnp.stack(out, axis=-3)


def uniformity(points: jax.Array, k: int = NEIGHBOURS) -> jax.Array:
  """3DDP's uniformity score of each cloud: over its points, the mean of std / mean of
  the distances from a point's nearest neighbour to its k nearest (itself included;
  std unbiased, as torch's). k is capped at the cloud's size. [..., N, 3] -> [...]."""
  k = min(k, points.shape[-2])
  idx = knn(points, points, k)                                        # [..., N, k]
  near = jnp.take_along_axis(points[..., None, :, :], idx[..., None], axis=-2)
  d = jnp.linalg.norm(near - near[..., :1, :], axis=-1)               # [..., N, k]
  return (d.std(axis=-1, ddof=1) / (d.mean(axis=-1) + 1e-8)).mean(axis=-1)


def uniformity_weights(partitions: jax.Array, whole: jax.Array, mask: jax.Array,
                       lam: float) -> jax.Array:
  """The partitions' weights (the reference's `penalty / penalty.sum()`).

  Args:
    partitions: [S, B, P, 3] the FPS partitions of B real clouds; whole: [B, N, 3] the
      clouds; mask: [B], 0 for a padded cloud.
    lam: `uniformity_lambda` (1,000).
  Returns:
    [S], summing to 1.
  """
  mask = jnp.asarray(mask, whole.dtype)
  mean = lambda u: (u * mask).sum(-1) / mask.sum()  # noqa: E731
  penalty = jnp.exp(-lam * (mean(uniformity(partitions)) - mean(uniformity(whole))) ** 2)
  return penalty / penalty.sum()


def morph_loss(real_pointwise: jax.Array, syn_pointwise: jax.Array, weights: jax.Array,
               real_mask: jax.Array | None = None, weight: float = WEIGHT) -> jax.Array:
  """One class's 3DDP loss.

  Args:
    real_pointwise: [S, B, P, C] point-wise features of the real clouds' S partitions.
    syn_pointwise: [T, P, C] of the class's synthetic clouds (chunks and morphs).
    weights: [S] the partitions' weights (`uniformity_weights`).
    real_mask: optional [B], 0 for a padded real cloud.
  Returns:
    scalar: weight * sum_s weights[s] * MMD(sorted |features| of partition s, of syn).
  """
  s, b = real_pointwise.shape[:2]
  real = sort_descending(jnp.abs(real_pointwise), -2).reshape(s, b, -1)
  syn = sort_descending(jnp.abs(syn_pointwise), -2).reshape(syn_pointwise.shape[0], -1)
  dyy = gram_square_distances(syn)  # the same for every partition: once
  mmd = jax.vmap(lambda r: mmd_from_distances(
      gram_square_distances(r), gram_square_distances(r, syn), dyy, real_mask))(real)
  return weight * jnp.sum(weights * mmd)
