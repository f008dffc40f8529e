"""Part segmentation: the per-point loss and the scores of the ShapeNet-part evaluation.

Part ids are global (ShapeNet-part: 50 parts, class c owns ids `offsets[c]` ...
`offsets[c] + counts[c] - 1`). A prediction is restricted to the parts of the cloud's
own class (`restrict_to_class`). A cloud's IoU is the mean over its class's parts of
|pred = j and true = j| / |pred = j or true = j|, where a part absent from both
prediction and truth counts IoU 1; instance mIoU averages it over clouds, class mIoU
over the classes present (each the mean over its clouds); point accuracy is over all
points. All in %.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax


def part_cross_entropy(logits: jax.Array, parts: jax.Array, mask: jax.Array | None = None,
                       weights: jax.Array | None = None) -> jax.Array:
  """Per-point softmax cross-entropy, averaged over the points that count.

  Args:
    logits: [B, N, P]; parts: [B, N] int targets.
    mask: optional [B, N] bool or 0/1: points outside it are ignored (the per-part
      matching of DD3D keeps one part's points; the others' labels are ignored).
    weights: optional [B] per-cloud weights (0 drops a padded cloud); each cloud's
      loss is the mean over its counted points.
  Returns:
    Scalar: the mean over clouds (or the `weights`-weighted sum) of each cloud's mean
    loss over its counted points; a cloud with no counted point contributes 0.
  """
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, parts)     # [B, N]
  mask = jnp.ones_like(losses) if mask is None else jnp.asarray(mask, losses.dtype)
  per_cloud = (losses * mask).sum(axis=-1) / jnp.maximum(mask.sum(axis=-1), 1)
  return per_cloud.mean() if weights is None else jnp.sum(per_cloud * weights)


def restrict_to_class(logits: jax.Array, labels: jax.Array, offsets, counts) -> jax.Array:
  """The most likely part of each point among its cloud's class's parts.

  Args:
    logits: [M, N, P] scores of every global part; labels: [M] shape classes.
    offsets, counts: [K] the first global part id and the number of parts of each class.
  Returns:
    [M, N] int32 global part ids.
  """
  offsets, counts = jnp.asarray(offsets), jnp.asarray(counts)
  ids = jnp.arange(logits.shape[-1])
  first, count = offsets[labels][:, None], counts[labels][:, None]
  own = (ids >= first) & (ids < first + count)                     # [M, P]
  return jnp.argmax(jnp.where(own[:, None, :], logits, -jnp.inf), axis=-1).astype(jnp.int32)


def cloud_ious(pred: jax.Array, parts: jax.Array, labels: jax.Array, offsets,
               counts) -> jax.Array:
  """Each cloud's IoU, the mean over its class's parts (absent from both: 1).

  Args:
    pred, parts: [M, N] predicted and true global part ids; labels: [M].
  Returns:
    [M] IoU in [0, 1].
  """
  offsets, counts = jnp.asarray(offsets), jnp.asarray(counts)
  first, count = offsets[labels][:, None], counts[labels]
  local = jnp.arange(int(np.max(counts)))                           # [Pmax]
  p = (pred - first)[..., None] == local                            # [M, N, Pmax]
  t = (parts - first)[..., None] == local
  inter, union = (p & t).sum(axis=1), (p | t).sum(axis=1)           # [M, Pmax]
  iou = jnp.where(union > 0, inter / jnp.maximum(union, 1), 1.0)
  valid = local < count[:, None]
  return (iou * valid).sum(axis=1) / count


def part_metrics(pred, parts, labels, offsets, counts) -> dict[str, float]:
  """{'point_acc', 'instance_miou', 'class_miou'} in % (see the module docstring).

  Args:
    pred, parts: [M, N] predicted (restricted to each class) and true global part ids.
    labels: [M] shape classes; offsets, counts: [K] each class's parts.
  """
  pred, parts, labels = (np.asarray(a) for a in (pred, parts, labels))
  ious = np.asarray(cloud_ious(pred, parts, labels, offsets, counts), np.float64)
  per_class = [ious[labels == c].mean() for c in np.unique(labels)]
  return {'point_acc': 100.0 * float((pred == parts).mean()),
          'instance_miou': 100.0 * float(ious.mean()),
          'class_miou': 100.0 * float(np.mean(per_class))}
