"""DD3D distillation: gradient matching of a synthetic set against real clouds.

The synthetic set is DD3D's modulated SIREN (`synthetic.SirenSet`) or, for the GM
baseline, a tensor of clouds (`synthetic.TensorSet`).

One iteration (REFERENCE section 5), compiled once as `iteration(state, real)`:

    net <- fresh PointNet (new key)
    repeat outer_loop times:
      for every class c (split over the devices of `mesh`; on each, a chunked lax.map,
                         vmapped inside each chunk):
        g_real = stop_grad(grad CE(net, batch_real real clouds of c))
        g_syn  = grad CE(net, generator(noise, rows of c))   # differentiable
        loss  += distance(g_real, g_syn)
      one Adam step on the generator (grad of a grad)
      unless last: regenerate all synthetic clouds (no gradient), renormalise,
                   train net for inner_loop epochs (SGD, batch 256)

The state is an explicit pytree; randomness comes from `fold_in(key, iteration)`,
so a run resumed from a checkpoint repeats exactly what an uninterrupted run does.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from dd3d_jax import generator as gen_lib
from dd3d_jax import geometry, matching, synthetic, training
from dd3d_jax.devices import UNITS
from dd3d_jax.models import Network


@flax.struct.dataclass
class DistillState:
  """Everything a distillation needs to continue.

  Attributes:
    gen_params: parameters of the synthetic set (the generator's, for DD3D).
    opt_state: optax state of their optimiser.
    iteration: int32 scalar, iterations completed.
    key: uint32[2] raw PRNG key data of this distillation.
  """
  gen_params: Any
  opt_state: Any
  iteration: jax.Array
  key: jax.Array


class RealData(NamedTuple):
  """Real training clouds on the device, indexed by class for balanced sampling.

  Attributes:
    points: [N, P, 3] float32.
    class_index: [K, M] int32, row c lists the clouds of class c, padded.
    class_count: [K] int32, number of valid entries per row.
    parts: [N, P] int32 part ids (part segmentation), else None.
  """
  points: jax.Array
  class_index: jax.Array
  class_count: jax.Array
  parts: jax.Array | None = None


def make_real_data(points: np.ndarray, labels: np.ndarray, num_classes: int,
                   min_width: int = 1, parts: np.ndarray | None = None) -> RealData:
  """Puts the training split on the device once, with a per-class index table."""
  labels = np.asarray(labels)
  counts = np.bincount(labels, minlength=num_classes)
  width = max(int(counts.max()), min_width)
  table = np.zeros((num_classes, width), np.int32)
  for c in range(num_classes):
    members = np.flatnonzero(labels == c)
    table[c, :len(members)] = members
  return RealData(jnp.asarray(points, jnp.float32), jnp.asarray(table),
                  jnp.asarray(counts, jnp.int32),
                  None if parts is None else jnp.asarray(parts, jnp.int32))


def class_balanced_indices(key: jax.Array, real: RealData,
                           batch: int) -> tuple[jax.Array, jax.Array]:
  """`batch` distinct random clouds of every class (fewer, masked, if a class is smaller).

  Returns:
    indices: [K, batch] into the N clouds (padding entries point at any cloud).
    weights: [K, batch], 1/(clouds drawn) for drawn clouds and 0 for padding, so a
      weighted mean is the mean over the clouds the reference would draw.
  """
  width = real.class_index.shape[1]
  scores = jax.random.uniform(key, real.class_index.shape)
  scores = jnp.where(jnp.arange(width) < real.class_count[:, None], scores, -1.0)
  _, order = jax.lax.top_k(scores, batch)
  idx = jnp.take_along_axis(real.class_index, order, axis=1)
  valid = (jnp.arange(batch) < real.class_count[:, None]).astype(jnp.float32)
  return idx, valid / valid.sum(axis=1, keepdims=True)


def class_balanced_batch(key: jax.Array, real: RealData,
                         batch: int) -> tuple[jax.Array, jax.Array]:
  """`class_balanced_indices`' clouds: points [K, batch, P, 3] and weights [K, batch]."""
  idx, weights = class_balanced_indices(key, real, batch)
  return real.points[idx], weights


def _map_local(fn, xs, class_chunk: int):
  if class_chunk == 0:
    return jax.vmap(fn)(xs)
  if class_chunk == 1:
    return jax.lax.map(fn, xs)
  return jax.lax.map(fn, xs, batch_size=class_chunk)


def map_classes(fn, xs, class_chunk: int, mesh: Mesh | None = None):
  """`fn` over the leading (class) axis: one vmap (chunk 0), a sequential loop (chunk 1),
  or a `lax.map` that vmaps inside chunks of `class_chunk` classes; with a `mesh`, the
  classes are first split over its `units` axis (`shard_map`), each device mapping its
  own share the same way.

  Chunk 1 is a plain `lax.map`: `batch_size=1` would add size-1 batch dimensions whose
  batched matmuls XLA:CPU runs about 8x slower than plain ones (measured here).
  A class count that the devices do not divide is padded with copies of class 0 whose
  outputs are dropped (zero-weight units), so the result has the class count of `xs`
  and equals the unsharded one (up to summation order when the caller sums it).
  """
  if mesh is None or mesh.size == 1:
    return _map_local(fn, xs, class_chunk)
  k = jax.tree.leaves(xs)[0].shape[0]
  pad = -k % mesh.shape[UNITS]
  if pad:
    xs = jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]), xs)
  out = jax.shard_map(lambda part: _map_local(fn, part, class_chunk), mesh=mesh,
                      in_specs=P(UNITS), out_specs=P(UNITS), check_vma=False)(xs)
  return jax.tree.map(lambda y: y[:k], out) if pad else out


class Distiller(NamedTuple):
  """Static description of a distillation (hashable; closed over by the jitted step).

  Attributes:
    synthesizer: the synthetic set (`synthetic.SirenSet` or `synthetic.TensorSet`).
    network: network (behind its rotator) whose gradients are matched.
    num_classes, cpc: synthetic set shape.
    batch_real: real clouds per class per outer step.
    train_points: resolution at distillation (real clouds are subsampled to it).
    outer_loop, inner_loop: steps per iteration (see module docstring).
    iterations: total iterations (for the generator's StepLR at half).
    metric: gradient distance ('ours', 'mse', 'cos').
    class_chunk: classes per vmapped chunk (0: all classes in one vmap).
    lr, weight_decay: generator Adam.
    lr_net, batch_syn: inner-loop SGD.
    augment_real: augment real clouds before matching (off in the reference).
    optimizer, momentum: the synthetic set's optimiser: 'adam' (the paper, with L2
      `weight_decay`) or 'sgd' (DC's own setting for GM on tensors, with momentum).
    mesh: devices the classes are split over (`devices.make_mesh`); None: one device.
  """
  synthesizer: synthetic.SirenSet | synthetic.TensorSet
  network: Network
  num_classes: int
  cpc: int
  batch_real: int
  train_points: int
  outer_loop: int
  inner_loop: int
  iterations: int
  metric: str = 'ours'
  class_chunk: int = 1
  lr: float = 1e-3
  weight_decay: float = 5e-4
  lr_net: float = 1e-3
  batch_syn: int = 256
  augment_real: bool = False
  optimizer: str = 'adam'
  momentum: float = 0.0
  mesh: Mesh | None = None

  @property
  def num_synthetic(self) -> int:
    return self.num_classes * self.cpc

  def generator_optimizer(self) -> optax.GradientTransformation:
    """Adam (or SGD) with L2 weight decay; StepLR x0.1 at half of the iterations."""
    half = max(1, self.iterations // 2) * self.outer_loop
    lr = lambda count: self.lr * 0.1 ** (count // half)  # noqa: E731
    if self.optimizer == 'sgd':
      return training.torch_sgd(lr, self.momentum, self.weight_decay)
    return training.torch_adam(lr, self.weight_decay)

  def network_optimizer(self) -> optax.GradientTransformation:
    """Inner-loop SGD; StepLR x0.1 at half of outer_loop * inner_loop epochs."""
    batches = training.steps_per_epoch(self.num_synthetic, self.batch_syn)
    return training.torch_sgd(
        training.step_lr(self.lr_net, (self.outer_loop * self.inner_loop) // 2, batches))


def init_state(distiller: Distiller, key: jax.Array, params: Any = None) -> DistillState:
  """A fresh distillation: the set's parameters (its reference init unless given),
  their optimiser state, iteration 0."""
  k_gen, k_run = jax.random.split(key)
  params = distiller.synthesizer.init(k_gen) if params is None else params
  return DistillState(params, distiller.generator_optimizer().init(params),
                      jnp.zeros((), jnp.int32), jax.random.key_data(k_run))


def generate_set(distiller: Distiller, gen_params: Any, key: jax.Array,
                 num_points: int) -> jax.Array:
  """All synthetic clouds, renormalised to the unit sphere: [K * cpc, num_points, 3]."""
  noise = gen_lib.sample_noise(key, distiller.num_synthetic, num_points)
  return geometry.normalize_to_unit_sphere(distiller.synthesizer.generate(gen_params, noise))


def matching_loss_and_grad(distiller: Distiller, gen_params: Any, net_vars: Any,
                           real_points: jax.Array, real_weights: jax.Array,
                           noise: jax.Array) -> tuple[jax.Array, Any]:
  """Sum over classes of the GM distance, and its gradient w.r.t. the synthetic set.

  Each class differentiates only its own part of the parameters (its embedding
  rows, or its clouds), so the per-class outputs are the shared layers' gradients
  (summed) and one class-sized slice each. Gradients are taken w.r.t. the network's
  `net_vars['params']` in training mode; its state collections (BatchNorm
  statistics) are read, not updated, as in DC.

  Args:
    net_vars: the network's variables (`Network.init`).
    real_points: [K, batch_real, P, 3]; real_weights: [K, batch_real].
    noise: [K, cpc, P, 1].
  Returns:
    (loss summed over classes, gradient pytree shaped like gen_params).
  """
  synth = distiller.synthesizer
  shared, parts = synth.split(gen_params)
  net_params = net_vars['params']

  def apply_net(params, points):
    return distiller.network.apply({**net_vars, 'params': params}, points, train=True)[0]

  def per_class(xs):
    part_c, real_c, weights_c, noise_c, c = xs
    g_real = jax.lax.stop_gradient(matching.network_gradient(
        apply_net, net_params, real_c, jnp.full(real_c.shape[0], c), weights_c))

    def loss_c(shared, part_c):
      syn = synth.class_points(shared, part_c, noise_c)
      g_syn = matching.network_gradient(apply_net, net_params, syn, jnp.full(distiller.cpc, c))
      return matching.match_distance(g_real, g_syn, distiller.metric)

    loss, (g_shared, g_part) = jax.value_and_grad(loss_c, argnums=(0, 1))(shared, part_c)
    return loss, g_shared, g_part

  losses, g_shared, g_parts = map_classes(
      per_class, (parts, real_points, real_weights, noise, jnp.arange(distiller.num_classes)),
      distiller.class_chunk, distiller.mesh)
  return losses.sum(), synth.join(jax.tree.map(lambda g: g.sum(axis=0), g_shared), g_parts)


def real_batch(distiller: Distiller, key: jax.Array,
               real: RealData) -> tuple[jax.Array, jax.Array]:
  """Class-balanced real clouds at the training resolution: [K, B, P', 3], [K, B]."""
  k_pick, k_sub, k_aug = jax.random.split(key, 3)
  points, weights = class_balanced_batch(k_pick, real, distiller.batch_real)
  if distiller.train_points < points.shape[-2]:
    points = geometry.normalize_to_unit_sphere(
        geometry.subsample(k_sub, points, distiller.train_points))
  if distiller.augment_real:
    points = geometry.augment(k_aug, points)
  return points, weights


def outer_step(distiller: Distiller, gen_params: Any, opt_state: Any, net_vars: Any,
               real: RealData, key: jax.Array) -> tuple[Any, Any, jax.Array]:
  """One generator update: match every class's gradients once, one Adam step.

  Returns:
    (gen_params, opt_state, GM loss summed over classes).
  """
  k_real, k_noise = jax.random.split(key)
  points, weights = real_batch(distiller, k_real, real)
  noise = jax.random.uniform(
      k_noise, (distiller.num_classes, distiller.cpc, distiller.train_points, 1))
  loss, grads = matching_loss_and_grad(distiller, gen_params, net_vars, points, weights, noise)
  updates, opt_state = distiller.generator_optimizer().update(grads, opt_state, gen_params)
  return optax.apply_updates(gen_params, updates), opt_state, loss


def iteration(distiller: Distiller, state: DistillState,
              real: RealData) -> tuple[DistillState, dict]:
  """One DD3D iteration (pure; `jax.jit(functools.partial(iteration, distiller))`).

  Returns:
    (next state, {'loss': mean GM distance per class and outer step}).
  """
  def step(gen_params, opt_state, net_vars, ol, key):
    del ol
    k_step, k_inner = jax.random.split(key)
    gen_params, opt_state, loss = outer_step(distiller, gen_params, opt_state, net_vars, real,
                                             k_step)
    return gen_params, opt_state, net_vars, loss, k_inner

  return unrolled_iteration(distiller, state, step, lambda gen_params, key: (
      generate_set(distiller, gen_params, key, distiller.train_points), None))


def unrolled_iteration(distiller: Distiller, state: DistillState, step,
                       synthetic_set) -> tuple[DistillState, dict]:
  """The loop of every gradient-matching iteration: a fresh network, then `outer_loop`
  times `step`, each but the last followed by `inner_loop` epochs of training the network
  on the regenerated synthetic set (SGD, batch `batch_syn`).

  Args:
    step: `step(gen_params, opt_state, net_vars, ol, key) -> (gen_params, opt_state,
      net_vars, loss, inner_key)`: one update of the set at outer step `ol` from the key
      of that step, and the part of the key it leaves to the inner loop.
    synthetic_set: `synthetic_set(gen_params, key) -> (points [K * cpc, N, 3], parts
      [K * cpc, N] or None)`, what the inner loop trains on (parts: part segmentation).
  Returns:
    (next state, {'loss': mean loss per class and outer step}).
  """
  key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.iteration)
  k_net, k_loop = jax.random.split(key)
  net_tx = distiller.network_optimizer()
  net_vars = distiller.network.init(k_net)
  syn_labels = gen_lib.synthetic_labels(distiller.num_classes, distiller.cpc)

  def inner(net_vars, net_opt, gen_params, key):
    k_gen, k_train = jax.random.split(key)
    points, parts = synthetic_set(gen_params, k_gen)
    net_vars, net_opt, _ = training.train_epochs(
        distiller.network, net_tx, net_vars, net_opt, points, syn_labels, k_train,
        num_epochs=distiller.inner_loop, batch_size=distiller.batch_syn, augment=False,
        parts=parts)
    return net_vars, net_opt

  def outer(carry, ol):
    gen_params, opt_state, net_vars, net_opt = carry
    gen_params, opt_state, net_vars, loss, k_inner = step(
        gen_params, opt_state, net_vars, ol, jax.random.fold_in(k_loop, ol))
    net_vars, net_opt = jax.lax.cond(
        ol < distiller.outer_loop - 1,
        lambda: inner(net_vars, net_opt, gen_params, k_inner),
        lambda: (net_vars, net_opt))
    return (gen_params, opt_state, net_vars, net_opt), loss

  carry = (state.gen_params, state.opt_state, net_vars, net_tx.init(net_vars['params']))
  (gen_params, opt_state, _, _), losses = jax.lax.scan(
      outer, carry, jnp.arange(distiller.outer_loop))
  new_state = state.replace(gen_params=gen_params, opt_state=opt_state,
                            iteration=state.iteration + 1)
  return new_state, {'loss': losses.mean() / distiller.num_classes}


def make_iteration_fn(distiller: Distiller):
  """The jitted iteration; the old state's buffers are donated to the new one."""
  return jax.jit(functools.partial(iteration, distiller), donate_argnums=0)
