"""`random`: CPC random training clouds per class (a new draw per distillation index),
whole or each cut to `resolution` of its points (the storage of a tensor set of that
resolution, for comparisons at equal storage)."""

from __future__ import annotations

import jax
import numpy as np

from dd3d_jax import fields
from dd3d_jax.methods._selection import Selection


# The tasks (`config.task`) it does.
TASKS = '*'  # a selection of real clouds, with their targets
# Its settings (`config.methods.random`) and what each accepts: the points each exported
# cloud keeps (0, or at least the clouds' points: all of them).
DEFAULTS = {'resolution': 0}
FIELDS = {'resolution': fields.integer(0)}


def random_members(key: jax.Array, labels: np.ndarray, num_classes: int,
                   cpc: int) -> list[np.ndarray]:
  """Per class, `cpc` distinct random members (all of a smaller class), in random order.

  Args:
    key: the draw (same key, same choice).
    labels: [N] int class of each training cloud.
  Returns:
    K int arrays of indices into the N clouds.
  """
  rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
  return [rng.permutation(np.flatnonzero(labels == c))[:cpc] for c in range(num_classes)]


def from_config(settings, context) -> Selection:
  labels, k = context.dataset.train.labels, context.dataset.num_classes
  return Selection(context.dataset, context.targets_task, lambda key: np.concatenate(
      random_members(key, labels, k, context.cpc)), resolution=settings.resolution)
