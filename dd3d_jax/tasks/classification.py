"""Shape classification: one class per cloud, softmax cross-entropy, overall accuracy and
mean class accuracy (the mean over classes of each class's accuracy: on imbalanced test
splits such as ModelNet40's and ScanObjectNN's it weighs every class alike)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dd3d_jax.models import Network, make_network

SCORES = ('oa', 'macc')
ADDED_SCORES = ('macc',)  # run files written before 2026-12-05 lack it
COLUMNS = {'OA': 'final_oa', 'mAcc': 'final_macc'}
TABLES = ('1', '2', '3')
CAPTION = ('Final-epoch overall and mean class accuracy, OA and mAcc % (mean ± std over '
           'runs). Backbone: {backbone}.')
SET_KEY = None
DESCRIPTION = 'shape classification'


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  weights: jax.Array | None = None) -> jax.Array:
  """Softmax cross-entropy, averaged (or weighted by `weights`, which sum to 1).

  Args:
    logits: [B, K]; labels: [B] int; weights: optional [B] (0 masks an example).
  Returns:
    Scalar.
  """
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return losses.mean() if weights is None else jnp.sum(losses * weights)


def mean_class_accuracy(predictions, labels) -> float:
  """100 x the mean over the classes in `labels` of the share of their clouds predicted
  right. predictions, labels: [N] int."""
  predictions, labels = np.asarray(predictions), np.asarray(labels)
  classes = np.unique(labels)
  return 100.0 * float(np.mean([np.mean(predictions[labels == c] == c) for c in classes]))


@dataclasses.dataclass(frozen=True)
class Classification:
  """The targets are the labels; a network of `num_classes` logits."""
  num_classes: int
  name: str = 'classification'
  match_groups = None
  bn_from_real = False
  per_point = False        # one target per cloud
  distill_rotated = True   # the distillation network is behind the rotator too

  def network(self, arch: str, rotator: Any) -> Network:
    return make_network(arch, self.num_classes, rotator)

  def targets(self, split) -> np.ndarray:
    """[N] int32 classes."""
    return np.asarray(split.labels, np.int32)

  def loss(self, outputs: jax.Array, targets: jax.Array, weights: jax.Array | None = None,
           mask: jax.Array | None = None) -> jax.Array:
    """`cross_entropy` (a mask [B] is folded into the weights)."""
    if mask is not None:
      weights = mask / mask.sum() if weights is None else weights * mask / jnp.sum(weights * mask)
    return cross_entropy(outputs, targets, weights)

  def predict(self, outputs: jax.Array, labels: jax.Array) -> jax.Array:
    del labels
    return jnp.argmax(outputs, axis=-1).astype(jnp.int32)

  def score(self, predictions, split) -> dict[str, float]:
    """{'oa': overall accuracy %, 'macc': mean class accuracy % over the classes present}."""
    # float32 on the device, as the accuracies of earlier runs were computed
    oa = 100.0 * float(jnp.mean(jnp.asarray(predictions) == jnp.asarray(split.labels)))
    return {'oa': oa, 'macc': mean_class_accuracy(predictions, split.labels)}

  def synthetic_targets(self, noise: jax.Array, labels: jax.Array) -> jax.Array:
    del noise
    return labels

  def parts(self, targets) -> None:
    del targets
    return None


def make(dataset) -> Classification:
  return Classification(dataset.num_classes)
