"""Gradient matching of any synthetic set (DD3D's generator, GM's tensor) for any task,
and the real-cloud initialisation that the tensor methods share."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dd3d_jax import devices, distill, geometry, synthetic
from dd3d_jax import generator as gen_lib
from dd3d_jax.methods import SmallSet
from dd3d_jax.methods.kmedoids import medoid_members
from dd3d_jax.methods.random import random_members
from dd3d_jax.ops import selection


def make_distiller(settings, context, synthesizer) -> distill.Distiller:
  """DD3D's loop (docs/algorithm.md, "Outer and inner loop") around `synthesizer`, from
  resolved settings."""
  k = context.dataset.num_classes
  return distill.Distiller(
      synthesizer=synthesizer, network=context.network, num_classes=k, cpc=context.cpc,
      batch_real=min(settings.batch_real, len(context.dataset.train)),
      train_points=settings.train_points, outer_loop=settings.outer_loop,
      inner_loop=settings.inner_loop, iterations=settings.iterations, metric=settings.metric,
      class_chunk=devices.resolve_class_chunk(settings.class_chunk), lr=settings.lr,
      weight_decay=settings.weight_decay, lr_net=settings.lr_net, batch_syn=settings.batch_syn,
      augment_real=settings.augment_real, augment=settings.get('augment', False),
      augment_up=settings.get('augment_up', False),
      augment_dropout=settings.get('augment_dropout', 0.0),
      optimizer=settings.get('optimizer', 'adam'),
      momentum=settings.get('momentum', 0.0), mesh=context.mesh, task=context.targets_task)


# The start of a tensor method's set (its `init`): the clouds the random coreset of the
# same distillation index picks, PCC's, the clouds nearest each class's mean feature, or
# those the `kmedoids` coreset picks (the most typical by Chamfer distance).
INITS = ('random', 'feature_mean', 'medoid')


def start_indices(key: jax.Array, context, init: str = 'random',
                  per_class: int | None = None) -> np.ndarray:
  """[K * n] indices of the training clouds a tensor method starts from, class-major, n =
  `per_class` (default: CPC): the random coreset's with the same key ('random'), per
  class those nearest the class's mean feature under the herding/k-center feature
  network ('feature_mean', no key), or the `kmedoids` coreset's with the same key
  ('medoid'). A class smaller than n repeats its clouds."""
  train, k = context.dataset.train, context.dataset.num_classes
  n = context.cpc if per_class is None else per_class
  if init == 'feature_mean':
    chosen = selection.select_per_class(selection.nearest_mean, context.embeddings(None),
                                        train.labels, k, n)
    members = [chosen[train.labels[chosen] == c] for c in range(k)]
  elif init == 'medoid':
    members = medoid_members(key, context, n)
  else:
    members = random_members(key, train.labels, k, n)
  return np.concatenate([np.resize(m, n) for m in members])


def real_clouds(key: jax.Array, context, num_points: int, with_targets: bool = False,
                init: str = 'random',
                per_class: int | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
  """CPC (or `per_class`) real training clouds per class at `num_points` points, in the
  unit sphere.

  The clouds are `start_indices(key, context, init, per_class)`: by default those `random`
  picks with the same key, so a tensor method and the random coreset of one distillation
  index start from the same clouds.

  Returns:
    [K * n, num_points, 3] float32, class-major; with `with_targets`, also their
    task targets (per-point targets follow the kept points).
  """
  train = context.dataset.train
  idx = start_indices(key, context, init, per_class)
  points, targets = train.points[idx], context.targets_task.targets(train)[idx]
  per_point = targets.shape == points.shape[:-1]
  if num_points < points.shape[1]:
    points, kept = geometry.subsample_labelled(jax.random.fold_in(key, 1), points,
                                               targets if per_point else None, num_points)
    targets = kept if per_point else targets
  points = np.asarray(geometry.normalize_to_unit_sphere(points))
  return (points, np.asarray(targets)) if with_targets else points


def tensor_start(settings, context) -> Callable[[jax.Array], Any]:
  """`initial(key)` of a tensor method: its start clouds (`settings.init`) as a tensor set."""
  init, n = settings.get('init', 'random'), settings.train_points
  return lambda key: synthetic.TensorSet.from_clouds(real_clouds(key, context, n, init=init))


@dataclasses.dataclass(frozen=True)
class MatchingMethod:
  """A synthetic set trained by `distill.iteration` (gradient matching), for any task.

  Equal (and hashed) by its distiller alone, so that the runner's jitted step, which
  takes the method as a static argument, is compiled once per process for a setting
  and reused by later runs of it (`initial` is only called by `init`, outside jit).

  Attributes:
    distiller: the loop, the task and the synthetic set (0 iterations: the set as
      initialised).
    initial: `initial(key) -> parameters` of the set, or None for the set's own init.
    initial_targets: a tensor set whose targets cannot come from its noise (part ids):
      `initial_targets(key) -> [K * cpc, ...]`, the targets of the real clouds it starts
      from, kept in the state beside it: (`DistillState`, targets). None: the state is
      the `DistillState` alone.
  """
  distiller: distill.Distiller
  initial: Callable[[jax.Array], Any] | None = dataclasses.field(
      default=None, compare=False, hash=False)
  initial_targets: Callable[[jax.Array], np.ndarray] | None = dataclasses.field(
      default=None, compare=False, hash=False)
  writes_set = True

  @property
  def num_steps(self) -> int:
    return self.distiller.iterations

  @property
  def mesh(self):
    return self.distiller.mesh

  def init(self, key: jax.Array, real: distill.RealData) -> Any:
    del real
    params = None if self.initial is None else self.initial(key)
    state = distill.init_state(self.distiller, jax.random.fold_in(key, 2), params)
    if self.initial_targets is None:
      return state
    return state, jnp.asarray(self.initial_targets(key))

  def step(self, state: Any, real: distill.RealData) -> tuple[Any, dict]:
    if self.initial_targets is None:
      return distill.iteration(self.distiller, state, real)
    state, targets = state
    state, metrics = distill.iteration(self.distiller, state, real, targets)
    return (state, targets), metrics

  def export(self, state: Any, key: jax.Array, num_points: int) -> SmallSet:
    """The set at `num_points` points (a tensor: at its own resolution), renormalised,
    with its targets."""
    state, fixed = (state, None) if self.initial_targets is None else state
    d = self.distiller
    points, targets = distill.labelled_set(d, state.gen_params, key,
                                           d.synthesizer.resolution or num_points, fixed)
    return SmallSet(np.asarray(points, np.float32),
                    np.asarray(gen_lib.synthetic_labels(d.num_classes, d.cpc)),
                    np.asarray(targets))
