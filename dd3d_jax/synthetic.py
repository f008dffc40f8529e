"""Synthetic sets that gradient matching can optimise: the DD3D generator or a tensor.

Both expose the same small interface, so one distillation step serves DD3D and the
GM baseline on raw clouds:

    init(key) -> params
    resolution -> None (any number of points) or the fixed points per cloud
    noise_dim -> noise values per point (D: `generator.sample_noise`'s dim)
    split(params) -> (shared, per_class [K, ...])   what every class / one class owns
    join(shared, per_class) -> params                 inverse of split (for gradients)
    class_points(shared, part, noise [cpc, N, D], c) -> [cpc, N, 3]   class c's clouds
    generate(params, noise [K * cpc, N, D]) -> [K * cpc, N, 3]

Each class differentiates only its own part, so a per-class gradient never needs a
full-size copy of the per-class parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from dd3d_jax import generator as gen_lib
from dd3d_jax.generator import part_labels


@dataclasses.dataclass(frozen=True)
class SirenSet:
  """DD3D: the class-modulated SIREN; a class owns its `cpc` embedding rows. Hashable."""
  module: gen_lib.ModulatedSiren

  @property
  def num_classes(self) -> int:
    return self.module.num_classes

  @property
  def cpc(self) -> int:
    return self.module.cpc

  @property
  def resolution(self) -> None:
    """Points per cloud it emits: any (None)."""
    return None

  @property
  def noise_dim(self) -> int:
    """Noise values per point (`generator.sample_noise`'s dim)."""
    return self.module.noise_dim

  def init(self, key: jax.Array) -> Any:
    return gen_lib.init_params(self.module, key)

  def split(self, params: Any) -> tuple[Any, jax.Array]:
    shared = {name: p for name, p in params.items() if name != 'embedding'}
    return shared, params['embedding'].reshape(self.num_classes, self.cpc, -1)

  def join(self, shared: Any, per_class: jax.Array) -> Any:
    return {**shared, 'embedding': per_class.reshape(self.num_classes * self.cpc, -1)}

  def class_points(self, shared: Any, part: jax.Array, noise: jax.Array,
                   c: jax.Array) -> jax.Array:
    del c
    return gen_lib.generate_from_latents(self.module, shared, noise, part)

  def generate(self, params: Any, noise: jax.Array) -> jax.Array:
    return gen_lib.generate(self.module, params, noise, jnp.arange(noise.shape[0]))


@dataclasses.dataclass(frozen=True)
class PartSirenSet(SirenSet):
  """DD3D with a part-conditioned generator: one embedding row per cloud and part.

  A point's part is given by its noise u as in `SirenSet` (`generator.part_labels`: (0, 1]
  cut into the class's part shares, as the task labels the points). The point is then
  generated from its part's own row, at its noise rescaled to the whole of [0, 1) within
  the part's interval, so each part of a cloud is a curve of its own, not a stretch of
  one curve that must jump from part to part. The SIREN's layers are shared as in
  `SirenSet`; a class owns its `cpc x P` rows (P: the most parts of a class).

  Attributes:
    module: the generator (`num_classes`, `cpc` as `SirenSet`'s).
    proportions: [K][P] each class's part shares (the task's `proportions`), zero past
      its parts.
  """
  proportions: tuple[tuple[float, ...], ...]

  @property
  def num_parts(self) -> int:
    return len(self.proportions[0])

  def init(self, key: jax.Array) -> Any:
    """`SirenSet`'s start with P rows of N(0, 1) codes per cloud."""
    params = gen_lib.init_params(self.module, key)
    rows = self.num_classes * self.cpc * self.num_parts
    return {**params, 'embedding': jax.random.normal(jax.random.split(key)[0],
                                                     (rows, self.module.hidden))}

  def split(self, params: Any) -> tuple[Any, jax.Array]:
    shared, rows = super().split(params)
    return shared, rows.reshape(self.num_classes, self.cpc, self.num_parts, -1)

  def join(self, shared: Any, per_class: jax.Array) -> Any:
    return {**shared, 'embedding': per_class.reshape(-1, self.module.hidden)}

  def class_points(self, shared: Any, part: jax.Array, noise: jax.Array,
                   c: jax.Array) -> jax.Array:
    """part: [cpc, P, hidden] class c's codes; noise: [cpc, N, D] -> [cpc, N, 3]; the
    first noise value picks the part and is rescaled to the part's whole range."""
    shares = jnp.asarray(self.proportions, jnp.float32)[c]             # [P]
    u = noise[..., 0]
    local = part_labels(u, shares[None])                                # [cpc, N]
    share = shares[local]
    start = (jnp.cumsum(shares) - shares)[local]
    u = jnp.clip((u - start) / jnp.where(share > 0, share, 1.0), 0.0, 1.0)
    codes = jnp.take_along_axis(part, local[..., None], axis=1)         # [cpc, N, hidden]
    u = jnp.concatenate([u[..., None], noise[..., 1:]], axis=-1)
    return gen_lib.generate_from_latents(self.module, shared, u, codes)

  def generate(self, params: Any, noise: jax.Array) -> jax.Array:
    """noise: [K * cpc, N, D], every cloud of the set -> [K * cpc, N, 3]."""
    shared, rows = self.split(params)
    k = self.num_classes
    points = jax.vmap(self.class_points, in_axes=(None, 0, 0, 0))(
        shared, rows, noise.reshape(k, self.cpc, *noise.shape[1:]), jnp.arange(k))
    return points.reshape(-1, *points.shape[2:])


class TensorSet(NamedTuple):
  """The GM baseline: `K * cpc` clouds of a fixed resolution, optimised directly.

  The noise only sets how many points are asked for, which must be `num_points`.
  """
  num_classes: int
  cpc: int
  num_points: int

  @property
  def resolution(self) -> int:
    """Points per cloud it emits: its own, fixed."""
    return self.num_points

  @property
  def noise_dim(self) -> int:
    """The noise it is given (and ignores) has one value per point."""
    return 1

  def init(self, key: jax.Array) -> Any:
    """Random clouds in the unit ball (use `from_clouds` to start from real ones)."""
    shape = (self.num_classes * self.cpc, self.num_points, 3)
    return {'points': jax.random.uniform(key, shape, jnp.float32, -0.5, 0.5)}

  @staticmethod
  def from_clouds(points: jax.Array) -> Any:
    """Parameters initialised from clouds [K * cpc, N, 3], class-major."""
    return {'points': jnp.asarray(points, jnp.float32)}

  def split(self, params: Any) -> tuple[Any, jax.Array]:
    return {}, params['points'].reshape(self.num_classes, self.cpc, self.num_points, 3)

  def join(self, shared: Any, per_class: jax.Array) -> Any:
    del shared
    return {'points': per_class.reshape(-1, self.num_points, 3)}

  def _check(self, noise: jax.Array) -> None:
    if noise.shape[-2] != self.num_points:
      raise ValueError(f'a tensor set has {self.num_points} points per cloud, not '
                       f'{noise.shape[-2]}; distil and evaluate it at its own resolution.')

  def class_points(self, shared: Any, part: jax.Array, noise: jax.Array,
                   c: jax.Array) -> jax.Array:
    del shared, c
    self._check(noise)
    return part

  def generate(self, params: Any, noise: jax.Array) -> jax.Array:
    self._check(noise)
    return params['points']


def or_tensor(synthesizer, num_classes: int, cpc: int, num_points: int):
  """`synthesizer`, or, if it is None, the `TensorSet` of that shape (the tensor methods'
  default set)."""
  return synthesizer or TensorSet(num_classes, cpc, num_points)
