"""A third task: per-cloud regression of each cloud's height (its extent along z), scored
by the share of test clouds predicted within 0.1.

`config.task = 'tests.plugins.extent'`. The network is any backbone with one output;
the loss is the (weighted) mean squared error. A generator cannot label its own clouds
with a height, so the methods that do it are the selections of real clouds (`TASKS = '*'`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dd3d_jax.models import Network, make_network

SCORES = ('within',)
COLUMNS = {'within 0.1': 'final_within'}
TABLES = ('1', '2', '3')
CAPTION = 'Final-epoch % of test clouds whose height is predicted within 0.1. Backbone: {backbone}.'
SET_KEY = 'height'
DESCRIPTION = 'height regression'
TOLERANCE = 0.1


def heights(points: np.ndarray) -> np.ndarray:
  """[N, P, 3] -> [N] float32: max z - min z of each cloud."""
  return np.ptp(np.asarray(points)[..., 2], axis=-1).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Extent:
  name: str = __name__
  match_groups = None
  bn_from_real = False
  per_point = False
  distill_rotated = True

  def network(self, arch: str, rotator: Any) -> Network:
    return make_network(arch, 1, rotator)

  def targets(self, split) -> np.ndarray:
    return heights(split.points)

  def loss(self, outputs: jax.Array, targets: jax.Array, weights: jax.Array | None = None,
           mask: jax.Array | None = None) -> jax.Array:
    errors = jnp.square(outputs[:, 0] - targets)
    w = jnp.ones_like(errors) if weights is None else weights
    w = w if mask is None else w * mask
    return jnp.sum(errors * w) / jnp.sum(w)

  def predict(self, outputs: jax.Array, labels: jax.Array) -> jax.Array:
    del labels
    return outputs[:, 0]

  def score(self, predictions, split) -> dict[str, float]:
    error = np.abs(np.asarray(predictions) - heights(split.points))
    return {'within': 100.0 * float(np.mean(error <= TOLERANCE))}

  def synthetic_targets(self, noise: jax.Array, labels: jax.Array) -> None:
    del noise, labels
    return None

  def parts(self, targets) -> None:
    del targets
    return None


def make(dataset) -> Extent:
  del dataset
  return Extent()
