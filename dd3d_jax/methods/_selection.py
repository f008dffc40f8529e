"""Selections: methods whose small set is a subset of the real training clouds."""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from dd3d_jax import fields
from dd3d_jax.data import PointCloudDataset
from dd3d_jax.methods import SmallSet
from dd3d_jax.ops import selection


# The settings of the selections by features (herding, k-center): the epochs of the
# feature network (None: eval.epochs).
FEATURE_DEFAULTS = {'embed_epochs': fields.inherit(int)}
FEATURE_FIELDS = {'embed_epochs': fields.integer(1)}


class Selection:
  """A method with no steps: `choose(key) -> indices` into the training split.

  The state is `{'indices': [M] int32}`; the set is those training clouds as they
  are (evaluation resolution), with their labels and their `task`'s targets.
  """
  num_steps = 0

  def __init__(self, dataset: PointCloudDataset, task: Any,
               choose: Callable[[jax.Array], np.ndarray], writes_set: bool = True):
    self.dataset, self.task, self.choose, self.writes_set = dataset, task, choose, writes_set

  def init(self, key: jax.Array, real=None) -> dict:
    del real
    return {'indices': np.asarray(self.choose(key), np.int32)}

  def export(self, state: dict, key: jax.Array, num_points: int) -> SmallSet:
    del key
    idx = np.asarray(state['indices'])
    train = self.dataset.train
    if train.points.shape[1] != num_points:
      raise ValueError(f'the training clouds have {train.points.shape[1]} points, not '
                       f'{num_points}; a selection exports them as they are.')
    return SmallSet(train.points[idx], train.labels[idx].astype(np.int32),
                    self.task.targets(train)[idx])


def by_features(select_fn: Callable, settings, context) -> Selection:
  """Per class, `select_fn(features [W, F], cpc, valid [W]) -> [cpc]` on the features of
  a network trained on the whole split (`settings.embed_epochs`; None: eval.epochs)."""
  train, k = context.dataset.train, context.dataset.num_classes
  return Selection(context.dataset, context.targets_task, lambda key: selection.select_per_class(
      select_fn, context.embeddings(settings.get('embed_epochs')), train.labels, k,
      context.cpc))
