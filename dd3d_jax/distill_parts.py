"""DD3D for part segmentation: gradient matching of a generator that labels its own points.

The authors' `seg_inr.py` (REFERENCE sections 3-5), compiled once as
`iteration(state, real)`:

    net <- fresh segmentation PointNet (BatchNorm; new key)
    repeat outer_loop times (ol = 0, 1, ...):
      BatchNorm statistics <- a training-mode pass over `bn_clouds` real clouds per
        class; then frozen: matching runs the network in inference mode (DC's trick)
      for every class c (split and chunked as `distill.map_classes`):
        synthetic points from noise, each labelled by its noise value: (0, 1] cut into
          the class's part proportions (`tasks.segmentation.synthetic_parts`)
        ol even: match the gradients of the whole-shape part cross-entropy
        ol odd:  one matching per part of c: the cross-entropy of that part's points
                 only (the other points ignored), the distances summed
      one Adam step on the generator
      unless last: train net for inner_loop epochs on the regenerated, renormalised,
                   labelled set (SGD, batch `batch_syn`)

GM's tensor (the baseline of Table 2) runs the same loop; its points keep the part
labels of the real clouds it starts from (`fixed_parts`).

Every gradient is of `part_cross_entropy`, PyTorch's mean over the counted points of
the batch. The network is told each cloud's class (one-hot), as the reference's. The
part gradients of one batch share one forward pass (a VJP per part), and the parts a
class lacks (padding up to the widest class) are skipped where classes are looped.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dd3d_jax import distill, geometry, matching
from dd3d_jax import generator as gen_lib
from dd3d_jax.distill import DistillState, RealData
from dd3d_jax.tasks.segmentation import PartLayout, part_cross_entropy, synthetic_parts


class PartDistiller(NamedTuple):
  """Static description of a part distillation (hashable; closed over by the jitted step).

  Attributes:
    base: the loop, the budget and the synthetic set (`distill.Distiller`), whose
      `network` is a `models.Network`.
    layout: the part ids of each class.
    proportions: [K][Pmax] each class's part shares (`class_proportions`), as tuples.
    bn_clouds: real clouds per class that set the BatchNorm statistics (8, as DC).
  """
  base: distill.Distiller
  layout: PartLayout
  proportions: tuple[tuple[float, ...], ...]
  bn_clouds: int = 8

  @property
  def mesh(self):
    return self.base.mesh

  def labelled_set(self, gen_params: Any, key: jax.Array, num_points: int,
                   fixed_parts: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """All synthetic clouds, renormalised, and their points' part ids:
    ([K * cpc, num_points, 3], [K * cpc, num_points] int32); a tensor set's points keep
    their `fixed_parts` [K * cpc, n]."""
    d = self.base
    noise = gen_lib.sample_noise(key, d.num_synthetic, num_points)
    points = geometry.normalize_to_unit_sphere(d.synthesizer.generate(gen_params, noise))
    return points, self.noise_parts(noise) if fixed_parts is None else fixed_parts

  def noise_parts(self, noise: jax.Array) -> jax.Array:
    """The part id of each point of the whole generated set, from its noise value:
    [K * cpc, N, 1] -> [K * cpc, N] int32 (rows class-major)."""
    labels = gen_lib.synthetic_labels(self.base.num_classes, self.base.cpc)
    return synthetic_parts(noise, labels, self.layout, jnp.asarray(self.proportions))


def part_masks(parts: jax.Array, first: jax.Array, count: int, per_part: bool) -> jax.Array:
  """Which points each matching counts: [J, ..., N] float (J = 1, all points; or one
  row per local part j < count of the class whose first id is `first`)."""
  if not per_part:
    return jnp.ones((1, *parts.shape), jnp.float32)
  local = jnp.arange(count).reshape(-1, *([1] * parts.ndim))
  return (parts[None] == first + local).astype(jnp.float32)


def part_gradients(apply_fn, net_params: Any, points: jax.Array, labels: jax.Array,
                   parts: jax.Array, masks: jax.Array, weights: jax.Array | None = None,
                   valid: jax.Array | None = None) -> Any:
  """The network gradient of each mask's part cross-entropy, from one forward pass.

  Args:
    apply_fn: `apply_fn(params, points, labels) -> [B, N, P]` logits.
    points: [B, N, 3]; labels: [B]; parts: [B, N]; masks: [J, B, N]; weights: [B] or None.
    valid: optional [J] bool: the masks to compute; the others' gradients are zeros,
      skipped (a class with fewer parts than the widest class computes fewer VJPs,
      where the class loop is sequential).
  Returns:
    A pytree shaped like `net_params` with a leading J axis.
  """
  logits, vjp = jax.vjp(lambda p: apply_fn(p, points, labels), net_params)

  def one(mask):
    cotangent = jax.grad(lambda z: part_cross_entropy(z, parts, mask, weights))(logits)
    return vjp(cotangent)[0]

  if valid is None:
    return jax.lax.map(one, masks)
  zeros = jax.tree.map(jnp.zeros_like, net_params)
  return jax.lax.map(lambda x: jax.lax.cond(x[1], one, lambda _: zeros, x[0]), (masks, valid))


def matching_loss_and_grad(pd: PartDistiller, gen_params: Any, net_vars: Any,
                           real_points: jax.Array, real_parts: jax.Array,
                           real_weights: jax.Array, noise: jax.Array, per_part: bool,
                           fixed_parts: jax.Array | None = None) -> tuple[jax.Array, Any]:
  """Sum over classes (and parts, if `per_part`) of the GM distance, and its gradient
  w.r.t. the synthetic set. The network runs in inference mode on `net_vars`.

  Args:
    real_points: [K, B, N, 3]; real_parts: [K, B, N]; real_weights: [K, B].
    noise: [K, cpc, N, 1].
    fixed_parts: a tensor set's part ids [K * cpc, N]; None: from the noise.
  Returns:
    (loss, gradient pytree shaped like gen_params).
  """
  d = pd.base
  synth = d.synthesizer
  shared, rows = synth.split(gen_params)
  offsets = jnp.asarray(pd.layout.offsets, jnp.int32)
  counts = jnp.asarray(pd.layout.counts, jnp.int32)
  width = pd.layout.max_count if per_part else 1
  proportions = jnp.asarray(pd.proportions)

  def apply_net(params, points, labels):
    return d.network.apply({**net_vars, 'params': params}, points, labels)[0]

  def per_class(xs):
    rows_c, real_c, parts_c, weights_c, noise_c, fixed_c, c = xs
    real_labels, syn_labels = jnp.full(real_c.shape[0], c), jnp.full(d.cpc, c)
    syn_parts = (synthetic_parts(noise_c, syn_labels, pd.layout, proportions)
                 if fixed_parts is None else fixed_c)
    valid = (jnp.arange(width) < counts[c]) if per_part else jnp.ones(1, bool)
    g_real = jax.lax.stop_gradient(part_gradients(
        apply_net, net_vars['params'], real_c, real_labels, parts_c,
        part_masks(parts_c, offsets[c], width, per_part), weights_c, valid))

    def loss_c(shared, rows_c):
      syn = synth.class_points(shared, rows_c, noise_c)
      g_syn = part_gradients(apply_net, net_vars['params'], syn, syn_labels, syn_parts,
                             part_masks(syn_parts, offsets[c], width, per_part), valid=valid)
      distances = jax.vmap(functools.partial(matching.match_distance, metric=d.metric))(
          g_real, g_syn)
      return jnp.sum(jnp.where(valid, distances, 0.0))

    loss, (g_shared, g_rows) = jax.value_and_grad(loss_c, argnums=(0, 1))(shared, rows_c)
    return loss, g_shared, g_rows

  fixed = (jnp.zeros(d.num_classes) if fixed_parts is None
           else fixed_parts.reshape(d.num_classes, d.cpc, -1))
  losses, g_shared, g_rows = distill.map_classes(
      per_class, (rows, real_points, real_parts, real_weights, noise, fixed,
                  jnp.arange(d.num_classes)), d.class_chunk, d.mesh)
  return losses.sum(), synth.join(jax.tree.map(lambda g: g.sum(axis=0), g_shared), g_rows)


def real_batch(pd: PartDistiller, key: jax.Array, real: RealData,
               batch: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Class-balanced real clouds and their parts at the training resolution:
  [K, batch, N', 3], [K, batch, N'], weights [K, batch]."""
  k_pick, k_sub, k_aug = jax.random.split(key, 3)
  idx, weights = distill.class_balanced_indices(k_pick, real, batch)
  points, parts = real.points[idx], real.parts[idx]
  n = pd.base.train_points
  if n < points.shape[-2]:
    points, parts = geometry.subsample_labelled(k_sub, points, parts, n)
    points = geometry.normalize_to_unit_sphere(points)
  if pd.base.augment_real:
    points = geometry.augment(k_aug, points)
  return points, parts, weights


def set_batch_statistics(pd: PartDistiller, net_vars: Any, real: RealData,
                         key: jax.Array) -> Any:
  """`net_vars` with BatchNorm running statistics updated by one training-mode pass over
  `bn_clouds` real clouds of every class (a class with fewer repeats its own clouds)."""
  k_pick, k_sub = jax.random.split(key)
  draws = min(pd.bn_clouds, real.class_index.shape[1])
  idx, weights = distill.class_balanced_indices(k_pick, real, draws)
  drawn = jnp.maximum(jnp.sum(weights > 0, axis=1, keepdims=True), 1)
  idx = jnp.take_along_axis(idx, jnp.arange(pd.bn_clouds)[None] % drawn, axis=1)
  points = real.points[idx]
  if pd.base.train_points < points.shape[-2]:
    points = geometry.normalize_to_unit_sphere(
        geometry.subsample(k_sub, points, pd.base.train_points))
  k = pd.base.num_classes
  labels = jnp.repeat(jnp.arange(k), pd.bn_clouds)
  _, state = pd.base.network.apply(net_vars, points.reshape(-1, *points.shape[2:]), labels,
                                      train=True)
  return {**net_vars, **state}


def iteration(pd: PartDistiller, state: DistillState, real: RealData,
              fixed_parts: jax.Array | None = None) -> tuple[DistillState, dict]:
  """One iteration (pure; the runner jits it). `fixed_parts`: a tensor set's part ids
  [K * cpc, N] (GM); None: the generator's, from its noise.

  Returns:
    (next state, {'loss': mean GM distance per class and outer step}).
  """
  d = pd.base

  def step(gen_params, opt_state, net_vars, ol, key):
    k_bn, k_real, k_noise, k_inner = jax.random.split(key, 4)
    net_vars = set_batch_statistics(pd, net_vars, real, k_bn)
    points, parts, weights = real_batch(pd, k_real, real, d.batch_real)
    noise = jax.random.uniform(k_noise, (d.num_classes, d.cpc, d.train_points, 1))
    loss, grads = jax.lax.cond(
        ol % 2 == 0,
        lambda: matching_loss_and_grad(pd, gen_params, net_vars, points, parts, weights, noise,
                                       False, fixed_parts),
        lambda: matching_loss_and_grad(pd, gen_params, net_vars, points, parts, weights, noise,
                                       True, fixed_parts))
    updates, opt_state = d.generator_optimizer().update(grads, opt_state, gen_params)
    return optax.apply_updates(gen_params, updates), opt_state, net_vars, loss, k_inner

  return distill.unrolled_iteration(d, state, step, lambda gen_params, key: pd.labelled_set(
      gen_params, key, d.train_points, fixed_parts))
