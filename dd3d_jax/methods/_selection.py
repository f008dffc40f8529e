"""Selections: methods whose small set is a subset of the real training clouds."""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from dd3d_jax import fields, geometry
from dd3d_jax.data import PointCloudDataset
from dd3d_jax.methods import SmallSet
from dd3d_jax.ops import selection


# The settings of the selections by features (herding, k-center): the epochs of the
# feature network (None: eval.epochs).
FEATURE_DEFAULTS = {'embed_epochs': fields.inherit(int)}
FEATURE_FIELDS = {'embed_epochs': fields.integer(1)}


class Selection:
  """A method with no steps: `choose(key) -> indices` into the training split.

  The state is `{'indices': [M] int32}`; the set is those training clouds, with their
  labels and their `task`'s targets, as they are (evaluation resolution) or, with a
  `resolution` below their points, each cut to that many of its points (a draw of the
  export key; per-point targets follow their points): a coreset that stores as many
  numbers as a tensor set of that resolution.
  """
  num_steps = 0

  def __init__(self, dataset: PointCloudDataset, task: Any,
               choose: Callable[[jax.Array], np.ndarray], writes_set: bool = True,
               resolution: int = 0):
    self.dataset, self.task, self.choose, self.writes_set = dataset, task, choose, writes_set
    self.resolution = resolution

  def init(self, key: jax.Array, real=None) -> dict:
    del real
    return {'indices': np.asarray(self.choose(key), np.int32)}

  def export(self, state: dict, key: jax.Array, num_points: int) -> SmallSet:
    idx = np.asarray(state['indices'])
    train = self.dataset.train
    if train.points.shape[1] != num_points:
      raise ValueError(f'the training clouds have {train.points.shape[1]} points, not '
                       f'{num_points}; a selection exports them as they are.')
    points, targets = train.points[idx], self.task.targets(train)[idx]
    if 0 < self.resolution < num_points:
      cut, cut_targets = geometry.subsample_labelled(
          key, points, targets if self.task.per_point else None, self.resolution)
      points = np.asarray(cut)
      targets = np.asarray(cut_targets) if self.task.per_point else targets
    return SmallSet(points, train.labels[idx].astype(np.int32), targets)


def by_features(select_fn: Callable, settings, context) -> Selection:
  """Per class, `select_fn(features [W, F], cpc, valid [W]) -> [cpc]` on the features of
  a network trained on the whole split (`settings.embed_epochs`; None: eval.epochs)."""
  train, k = context.dataset.train, context.dataset.num_classes
  return Selection(context.dataset, context.targets_task, lambda key: selection.select_per_class(
      select_fn, context.embeddings(settings.get('embed_epochs')), train.labels, k,
      context.cpc))
