"""Tasks: what a cloud's targets are, the network that predicts them, the loss, the scores.

`config.task = NAME` uses `dd3d_jax.tasks.NAME.make(dataset) -> Task` (found by
`dd3d_jax.registry`, as methods and networks are; a module outside the package is named
by its dotted path, e.g. `config.task='my_package.my_task'`). The pipeline, the runner,
training, evaluation, the workdir checks and the tables name no task: they use this
interface, and a task is one module. `build_network(config, task, arch, distilling)` is
the task's network behind the configured rotator.

A task object (hashable: a static argument of `jax.jit`):

    network(arch, rotator) -> models.Network     the network predicting the targets
    targets(split) -> [N, ...]                   each cloud's training targets (its class,
                                                 its points' part ids, ...)
    loss(outputs, targets, weights=None, mask=None) -> scalar   mean over the batch
    predict(outputs, labels) -> [B, ...]         outputs -> predictions (jnp)
    score(predictions, split) -> {score: %}      one value per name of SCORES
    synthetic_targets(noise, labels) -> targets  of generated clouds, from their noise
                                                 ([M, N, D]) and classes [M] (a
                                                 generator's set), or None: the task
                                                 cannot label generated clouds
    parts(targets) -> [M, N] int or None         per-point ids to colour pictures by

and its module sets

    SCORES = ('oa', ...)      run-file keys final_<s> and best_<s>; the first is the
                              headline of logs and Table 1
    ADDED_SCORES = (...)      optional: scores added later, which older run files lack
    GAIN = 'class_miou'       optional: the score whose gain over the random coreset
                              tables and results.json show (default: the first)
    COLUMNS = {'OA': 'final_oa', ...}   the columns of `tables --table 2` per CPC
    TABLES = ('1', '3')       the `tables --table` layouts its workdirs take
    CAPTION                   Table 2's caption ({backbone} is filled in)
    SET_KEY = 'parts' | None  the set file's array of targets; None: the labels are
    DESCRIPTION               what the task is, for messages
    check(config, where)      optional: settings this task cannot run (ConfigError)

The task object also says how its reference recipe distils: `per_point` (its targets
are one per point, so they follow subsampled points, and a tensor set keeps those of
the real clouds it starts from), `distill_rotated` (the distillation network is behind
the rotator in the rotated setting), `bn_from_real` (BatchNorm statistics are set from
real clouds before matching, DC's trick) and `match_groups` (None, or
`match_groups(targets, c) -> (masks [J, B, N], valid [J])`: odd outer steps of gradient
matching match one gradient per group of points, as DD3D's part segmentation matches one
per part).
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import ml_collections

from dd3d_jax import registry, rotator


class Task(Protocol):
  name: str
  match_groups: Any
  bn_from_real: bool
  per_point: bool
  distill_rotated: bool

  def network(self, arch: str, rotator: Any) -> Any: ...

  def targets(self, split: Any) -> Any: ...

  def loss(self, outputs: jax.Array, targets: jax.Array, weights: jax.Array | None = None,
           mask: jax.Array | None = None) -> jax.Array: ...

  def predict(self, outputs: jax.Array, labels: jax.Array) -> jax.Array: ...

  def score(self, predictions: Any, split: Any) -> dict[str, float]: ...

  def synthetic_targets(self, noise: jax.Array, labels: jax.Array) -> jax.Array | None: ...

  def parts(self, targets: Any) -> Any: ...


def names() -> tuple[str, ...]:
  """The tasks of this package, sorted."""
  return registry.names('tasks')


def module(name: str):
  """The module of task `name` (its SCORES, COLUMNS, TABLES, ...), checked."""
  return registry.get('tasks', name, 'task')


def required_scores(name: str) -> tuple[str, ...]:
  """The scores of task `name` that every run file and results.json has: its SCORES but
  those added later (`ADDED_SCORES`: files written before them lack them)."""
  mod = module(name)
  return tuple(s for s in mod.SCORES if s not in getattr(mod, 'ADDED_SCORES', ()))


def gain_score(name: str) -> str:
  """The score of task `name` whose gain over the paired random-coreset run is shown:
  its `GAIN`, else its headline (the first of `SCORES`)."""
  mod = module(name)
  return getattr(mod, 'GAIN', mod.SCORES[0])


def label(name: str, score: str) -> str:
  """How tables and logs call a score of task `name`: its `COLUMNS` header (e.g.
  'cls. mIoU'), else the score's own name."""
  headers = {key[len('final_'):]: header for header, key in module(name).COLUMNS.items()}
  return headers.get(score, score)


def make(name: str, dataset) -> Task:
  """Task `name` for `dataset`."""
  return module(name).make(dataset)


def build_network(config: ml_collections.ConfigDict, task: Task, arch: str | None = None,
                  distilling: bool = False):
  """The task's network `arch` (default `model.arch`, the distillation network), behind
  the rotator when rotated (a task whose reference distils without one says so:
  `distill_rotated`)."""
  rotated = config.data.rotated and (task.distill_rotated or not distilling)
  kind = config.model.rotator if rotated else 'none'
  rot = rotator.make_rotator(kind, config.model.w0_sign, config.model.rotator_frequencies,
                             config.model.rotator_tau)
  return task.network(arch or config.model.arch, rot)


__all__ = ['Task', 'build_network', 'label', 'make', 'module', 'names']
