"""`kmedoids`: per class, greedy k-medoids by Chamfer distance (`ops.selection.k_medoids`):
the class's most typical cloud first, then those that best cover what the chosen leave far.
For part segmentation the distance is taken part by part (`ops.chamfer`, with labels), so
a typical cloud is one whose parts are typical. A class's candidates are at most `pool` of
its clouds, drawn with the distillation index's key (all of a smaller class), compared at
`points` points in the unit sphere. It needs no feature network, so it does every task;
`init='medoid'` of the tensor methods and of `dd3d` starts from the clouds it picks.
"""

from __future__ import annotations

import jax
import numpy as np

from dd3d_jax import fields, geometry
from dd3d_jax.methods._selection import Selection
from dd3d_jax.methods.random import random_members
from dd3d_jax.ops import selection
from dd3d_jax.ops.chamfer import pairwise_chamfer

# The tasks (`config.task`) it does.
TASKS = '*'
# Its settings (`config.methods.kmedoids`) and what each accepts.
DEFAULTS = {'pool': 64, 'points': 256}
FIELDS = {'pool': fields.integer(1), 'points': fields.integer(1)}


def medoid_members(key: jax.Array, context, n: int, pool: int = DEFAULTS['pool'],
                   points: int = DEFAULTS['points']) -> list[np.ndarray]:
  """Per class, min(n, pool, class size) training-cloud indices in greedy k-medoids order.

  Args:
    key: draws each class's candidates (`random_members`) and the points they are
      compared at.
    context: the run's `Context` (its training split and task targets).
    n: clouds per class; pool: candidates per class; points: points per compared cloud.
  Returns:
    K int arrays of indices into the training split.
  """
  train, k = context.dataset.train, context.dataset.num_classes
  task = context.targets_task
  targets = task.targets(train)
  candidates = random_members(key, train.labels, k, pool)
  width = max(len(m) for m in candidates)  # every class padded to one shape: one compile
  distances, select = jax.jit(pairwise_chamfer), jax.jit(selection.k_medoids, static_argnums=1)
  out = []
  for c, members in enumerate(candidates):
    idx = np.resize(members, width)
    cut, parts = geometry.subsample_labelled(
        jax.random.fold_in(key, c), train.points[idx], targets[idx] if task.per_point else None,
        min(points, train.points.shape[1]))
    d = distances(geometry.normalize_to_unit_sphere(cut), parts)
    picked = np.asarray(select(d, n, np.arange(width) < len(members)))
    out.append(members[picked[picked >= 0]])
  return out


def from_config(settings, context) -> Selection:
  return Selection(context.dataset, context.targets_task, lambda key: np.concatenate(
      medoid_members(key, context, context.cpc, settings.pool, settings.points)))
