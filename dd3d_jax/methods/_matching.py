"""Gradient matching of any synthetic set (DD3D's generator, GM's tensor), for shape
classes and for parts, and the real-cloud initialisation that the tensor methods share."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dd3d_jax import config as config_lib
from dd3d_jax import distill, distill_parts, geometry
from dd3d_jax import generator as gen_lib
from dd3d_jax.methods import SmallSet
from dd3d_jax.methods.random import random_members
from dd3d_jax.tasks import segmentation


def make_distiller(settings, context, synthesizer) -> distill.Distiller:
  """DD3D's loop (REFERENCE section 5) around `synthesizer`, from resolved settings."""
  k = context.dataset.num_classes
  return distill.Distiller(
      synthesizer=synthesizer, network=context.network, num_classes=k, cpc=context.cpc,
      batch_real=min(settings.batch_real, len(context.dataset.train)),
      train_points=settings.train_points, outer_loop=settings.outer_loop,
      inner_loop=settings.inner_loop, iterations=settings.iterations, metric=settings.metric,
      class_chunk=config_lib.resolve_class_chunk(settings.class_chunk), lr=settings.lr,
      weight_decay=settings.weight_decay, lr_net=settings.lr_net, batch_syn=settings.batch_syn,
      augment_real=settings.augment_real, optimizer=settings.get('optimizer', 'adam'),
      momentum=settings.get('momentum', 0.0), mesh=context.mesh)


def real_clouds(key: jax.Array, context, num_points: int,
                with_parts: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
  """CPC real training clouds per class at `num_points` points, in the unit sphere.

  The clouds are those `random` picks with the same key (a class smaller than CPC
  repeats its clouds), so a tensor method and the random coreset of one
  distillation index start from the same clouds.

  Returns:
    [K * cpc, num_points, 3] float32, class-major; with `with_parts`, also their
    points' part ids [K * cpc, num_points] int32.
  """
  train = context.dataset.train
  members = random_members(key, train.labels, context.dataset.num_classes, context.cpc)
  idx = np.concatenate([np.resize(m, context.cpc) for m in members])
  points, parts = train.points[idx], None if train.parts is None else train.parts[idx]
  if num_points < points.shape[1]:
    points, parts = geometry.subsample_labelled(jax.random.fold_in(key, 1), points, parts,
                                                num_points)
  points = np.asarray(geometry.normalize_to_unit_sphere(points))
  return (points, np.asarray(parts, np.int32)) if with_parts else points


@dataclasses.dataclass(frozen=True)
class MatchingMethod:
  """A synthetic set trained by `distill.iteration` (gradient matching).

  Equal (and hashed) by its distiller alone, so that the runner's jitted step, which
  takes the method as a static argument, is compiled once per process for a setting
  and reused by later runs of it (`initial` is only called by `init`, outside jit).

  Attributes:
    distiller: the loop and the synthetic set (0 iterations: the set as initialised).
    initial: `initial(key) -> parameters` of the set, or None for the set's own init.
  """
  distiller: distill.Distiller
  initial: Callable[[jax.Array], Any] | None = dataclasses.field(
      default=None, compare=False, hash=False)
  writes_set = True

  @property
  def num_steps(self) -> int:
    return self.distiller.iterations

  @property
  def mesh(self):
    return self.distiller.mesh

  def init(self, key: jax.Array, real: distill.RealData) -> distill.DistillState:
    del real
    params = None if self.initial is None else self.initial(key)
    return distill.init_state(self.distiller, jax.random.fold_in(key, 2), params)

  def step(self, state: distill.DistillState,
           real: distill.RealData) -> tuple[distill.DistillState, dict]:
    return distill.iteration(self.distiller, state, real)

  def export(self, state: distill.DistillState, key: jax.Array, num_points: int) -> SmallSet:
    """The set at `num_points` points (a tensor: at its own resolution), renormalised."""
    d = self.distiller
    n = d.synthesizer.resolution or num_points
    points = distill.generate_set(d, state.gen_params, key, n)
    return SmallSet(np.asarray(points, np.float32),
                    np.asarray(gen_lib.synthetic_labels(d.num_classes, d.cpc)))


@dataclasses.dataclass(frozen=True)
class PartMatchingMethod(MatchingMethod):
  """DD3D for part segmentation (`distill_parts`): the generator labels its own points,
  and the exported set carries those part labels.

  Attributes:
    distiller: a `distill_parts.PartDistiller`.
    initial: as `MatchingMethod`'s.
  """
  distiller: distill_parts.PartDistiller

  @property
  def num_steps(self) -> int:
    return self.distiller.base.iterations

  def init(self, key: jax.Array, real: distill.RealData) -> distill.DistillState:
    del real
    params = None if self.initial is None else self.initial(key)
    return distill.init_state(self.distiller.base, jax.random.fold_in(key, 2), params)

  def step(self, state: distill.DistillState,
           real: distill.RealData) -> tuple[distill.DistillState, dict]:
    return distill_parts.iteration(self.distiller, state, real)

  def export(self, state: distill.DistillState, key: jax.Array, num_points: int) -> SmallSet:
    """The labelled set at `num_points` points, renormalised."""
    d = self.distiller.base
    points, parts = self.distiller.labelled_set(state.gen_params, key, num_points)
    return SmallSet(np.asarray(points, np.float32),
                    np.asarray(gen_lib.synthetic_labels(d.num_classes, d.cpc)),
                    np.asarray(parts, np.int32))


@dataclasses.dataclass(frozen=True)
class PartTensorMethod(PartMatchingMethod):
  """GM for part segmentation: a tensor set whose points keep the part labels of the
  real clouds it starts from. The state is (`DistillState`, parts [K * cpc, N] int32).

  Attributes:
    initial_parts: `initial_parts(key) -> [K * cpc, N]` the starting clouds' part ids.
  """
  initial_parts: Callable[[jax.Array], np.ndarray] | None = dataclasses.field(
      default=None, compare=False, hash=False)

  def init(self, key: jax.Array, real: distill.RealData) -> tuple:
    return super().init(key, real), jnp.asarray(self.initial_parts(key), jnp.int32)

  def step(self, state: tuple, real: distill.RealData) -> tuple[tuple, dict]:
    state, parts = state
    state, metrics = distill_parts.iteration(self.distiller, state, real, parts)
    return (state, parts), metrics

  def export(self, state: tuple, key: jax.Array, num_points: int) -> SmallSet:
    """The tensor at its own resolution, renormalised, with its part labels."""
    state, parts = state
    d = self.distiller.base
    points, _ = self.distiller.labelled_set(state.gen_params, key, d.synthesizer.resolution,
                                            parts)
    return SmallSet(np.asarray(points, np.float32),
                    np.asarray(gen_lib.synthetic_labels(d.num_classes, d.cpc)),
                    np.asarray(parts, np.int32))


def make_part_distiller(settings, context, synthesizer) -> distill_parts.PartDistiller:
  """`distill_parts.PartDistiller` of the resolved settings, for a context with a part
  layout (the class proportions of its dataset)."""
  layout = context.layout
  proportions = tuple(tuple(float(x) for x in row)
                      for row in segmentation.class_proportions(context.dataset, layout))
  return distill_parts.PartDistiller(make_distiller(settings, context, synthesizer), layout,
                                     proportions)


def make_part_method(distiller: distill_parts.PartDistiller, initial=None,
                     initial_parts=None) -> PartMatchingMethod:
  """`PartMatchingMethod` of a part distiller (`PartTensorMethod` when the set's part
  labels are given by `initial_parts`)."""
  if initial_parts is None:
    return PartMatchingMethod(distiller, initial)
  return PartTensorMethod(distiller, initial, initial_parts)
