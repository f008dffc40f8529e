"""DD3D distillation: gradient matching of a synthetic set against real clouds, for any
task (`dd3d_jax.tasks`).

The synthetic set is DD3D's modulated SIREN (`synthetic.SirenSet`) or, for the GM
baseline, a tensor of clouds (`synthetic.TensorSet`). Its clouds' targets are the
task's: their classes, or (part segmentation) each point's part, given by the
generator's noise (`task.synthetic_targets`) or, for a tensor, fixed to those of the
real clouds it starts from.

One iteration (the authors' `gm_inr.py` and `seg_inr.py`), compiled once as
`iteration(state, real)`:

    net <- fresh network (new key)
    repeat outer_loop times (ol = 0, 1, ...):
      [task.bn_from_real: BatchNorm statistics <- a training-mode pass over `bn_clouds`
       real clouds per class, then frozen: matching runs the net in inference mode]
      for every class c (split over the devices of `mesh`; on each, a chunked lax.map,
                         vmapped inside each chunk):
        g_real = stop_grad(grad loss(net, batch_real real clouds of c, their targets))
        g_syn  = grad loss(net, generator(noise, rows of c), their targets)  # differentiable
        loss  += distance(g_real, g_syn)
        [task.match_groups, odd ol: one gradient and distance per group of points, e.g.
         per part, the loss counting that group's points only]
      one Adam step on the generator (grad of a grad)
      unless last: regenerate all synthetic clouds (no gradient), renormalise,
                   train net for inner_loop epochs (SGD, batch `batch_syn`)

The state is an explicit pytree; randomness comes from `fold_in(key, iteration)`,
so a run resumed from a checkpoint repeats exactly what an uninterrupted run does.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from dd3d_jax import generator as gen_lib
from dd3d_jax import geometry, synthetic, training
from dd3d_jax.objectives import gradient
from dd3d_jax.devices import UNITS
from dd3d_jax.models import Network
from dd3d_jax.tasks.classification import Classification


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

  @classmethod
  def start(cls, params: Any, tx: optax.GradientTransformation,
            key: jax.Array) -> 'DistillState':
    """Iteration 0 of `params` under optimiser `tx`, with the run's key."""
    return cls(params, tx.init(params), jnp.zeros((), jnp.int32), jax.random.key_data(key))

  def step_key(self) -> jax.Array:
    """The key of the next iteration: the run's key folded with the iteration count, so
    that a run resumed from a checkpoint draws what an uninterrupted run draws."""
    return jax.random.fold_in(jax.random.wrap_key_data(self.key), self.iteration)


class RealData(NamedTuple):
  """Real training clouds on the device, indexed by class for balanced sampling.

  Attributes:
    points: [N, P, 3] float32.
    class_index: [K, M] int32, row c lists the clouds of class c, padded.
    class_count: [K] int32, number of valid entries per row.
    targets: [N, ...] the task's targets (`task.targets`): the classes [N], or every
      point's part id [N, P].
  """
  points: jax.Array
  class_index: jax.Array
  class_count: jax.Array
  targets: jax.Array


def make_real_data(points: np.ndarray, labels: np.ndarray, num_classes: int,
                   min_width: int = 1, targets: np.ndarray | None = None) -> RealData:
  """Puts the training split on the device once, with a per-class index table; the
  targets default to the labels (shape classification)."""
  labels = np.asarray(labels)
  counts = np.bincount(labels, minlength=num_classes)
  width = max(int(counts.max()), min_width)
  table = np.zeros((num_classes, width), np.int32)
  for c in range(num_classes):
    members = np.flatnonzero(labels == c)
    table[c, :len(members)] = members
  return RealData(jnp.asarray(points, jnp.float32), jnp.asarray(table),
                  jnp.asarray(counts, jnp.int32),
                  jnp.asarray(np.asarray(labels, np.int32) if targets is None else targets))


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


def sample_real(k_pick: jax.Array, k_sub: jax.Array, real: RealData, batch: int,
                train_points: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The real batch every objective compares with: `batch` clouds per class
  (`class_balanced_indices`, drawn by `k_pick`), each cut to `train_points` random points
  (drawn by `k_sub`; per-point targets follow the kept points) and renormalised to the
  unit sphere, or kept whole if it has no more points.

  Returns:
    points [K, batch, P', 3], targets [K, batch, ...], weights [K, batch].
  """
  idx, weights = class_balanced_indices(k_pick, real, batch)
  points, targets = real.points[idx], real.targets[idx]
  if train_points < points.shape[-2]:
    per_point = targets.shape == points.shape[:-1]
    points, kept = geometry.subsample_labelled(k_sub, points, targets if per_point else None,
                                               train_points)
    points = geometry.normalize_to_unit_sphere(points)
    targets = kept if per_point else targets
  return points, targets, weights


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


# `augment`'s key: folded into the update's noise key (the other draws stay as they were).
AUGMENT_STREAM = 0x61756720


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
    augment: DSA's siamese augmentation: each update draws, per class, one scale and one
      small rotation (`geometry.augment_together`) applied to its real batch and to its
      synthetic clouds before their gradients, so that the set is matched under the
      augmentation its evaluation trains with (off in the reference).
    augment_up, augment_dropout: with `augment`, also one turn about the up axis and
      point dropout (`geometry.augment_together`'s `up`, `dropout`).
    optimizer, momentum: the synthetic set's optimiser: 'adam' (the paper, with L2
      `weight_decay`) or 'sgd' (DC's own setting for GM on tensors, with momentum).
    mesh: devices the classes are split over (`devices.make_mesh`); None: one device.
    task: the task whose targets are matched (`dd3d_jax.tasks`); None: shape
      classification of `num_classes` classes.
    bn_clouds: real clouds per class that set the BatchNorm statistics, where the task
      asks for it (`task.bn_from_real`; 8, as DC).
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
  augment: bool = False
  augment_up: bool = False
  augment_dropout: float = 0.0
  optimizer: str = 'adam'
  momentum: float = 0.0
  mesh: Mesh | None = None
  task: Any = None
  bn_clouds: int = 8

  @property
  def num_synthetic(self) -> int:
    return self.num_classes * self.cpc

  @property
  def target_task(self) -> Any:
    """`task`, or shape classification of `num_classes` classes when it is None."""
    return Classification(self.num_classes) if self.task is None else self.task

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
  return DistillState.start(params, distiller.generator_optimizer(), k_run)


def labelled_set(distiller: Distiller, gen_params: Any, key: jax.Array, num_points: int,
                 fixed_targets: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """All synthetic clouds, renormalised to the unit sphere, and their targets:
  ([K * cpc, num_points, 3], the task's targets of them from their noise, or a tensor
  set's `fixed_targets`)."""
  noise = gen_lib.sample_noise(key, distiller.num_synthetic, num_points,
                               distiller.synthesizer.noise_dim)
  points = geometry.normalize_to_unit_sphere(distiller.synthesizer.generate(gen_params, noise))
  if fixed_targets is not None:
    return points, fixed_targets
  labels = gen_lib.synthetic_labels(distiller.num_classes, distiller.cpc)
  return points, distiller.target_task.synthetic_targets(noise, labels)


def augmented_alike(together: Callable, real: jax.Array,
                    syn_shape: tuple[int, ...]) -> tuple[jax.Array, Callable]:
  """`together(real, syn)` (`geometry.augment_together` with its key) taken apart: (the
  real clouds augmented, the function that augments synthetic clouds of `syn_shape` by the
  same draw). The draw depends on the key and the shapes only, so each side can be
  computed alone (the real one outside the synthetic set's gradient).
  real: [B, N, 3]; syn_shape: (C, N', 3)."""
  together = functools.partial(together, real)
  return together(jnp.zeros(syn_shape, real.dtype))[0], lambda syn: together(syn)[1]


def matching_loss_and_grad(distiller: Distiller, gen_params: Any, net_vars: Any,
                           real_points: jax.Array, real_targets: jax.Array,
                           real_weights: jax.Array, noise: jax.Array, per_group: bool = False,
                           fixed_targets: jax.Array | None = None,
                           augment_key: jax.Array | None = None) -> tuple[jax.Array, Any]:
  """Sum over classes (and groups, if `per_group`) of the GM distance, and its gradient
  w.r.t. the synthetic set.

  Each class differentiates only its own part of the parameters (its embedding
  rows, or its clouds), so the per-class outputs are the shared layers' gradients
  (summed) and one class-sized slice each. Gradients are taken w.r.t. the network's
  `net_vars['params']`, in training mode unless the task froze BatchNorm statistics
  from real clouds (`bn_from_real`: inference mode); the state collections are read,
  not updated, as in DC.

  Args:
    net_vars: the network's variables (`Network.init`).
    real_points: [K, batch_real, P, 3]; real_targets: [K, batch_real, ...];
    real_weights: [K, batch_real].
    noise: [K, cpc, P, D] (D: the synthesizer's `noise_dim`).
    per_group: match one gradient per group of the task (`task.match_groups`) instead
      of one per class.
    fixed_targets: a tensor set's targets [K * cpc, ...]; None: from the noise.
    augment_key: class c's real and synthetic clouds are augmented alike by
      `geometry.augment_together` with `fold_in(augment_key, c)`; None: not augmented.
  Returns:
    (loss summed over classes, gradient pytree shaped like gen_params).
  """
  d, task = distiller, distiller.target_task
  synth = d.synthesizer
  shared, rows = synth.split(gen_params)
  net_params = net_vars['params']
  train = not task.bn_from_real

  def apply_net(params, points, labels):
    return d.network.apply({**net_vars, 'params': params}, points, labels, train=train)[0]

  def per_class(xs):
    rows_c, real_c, targets_c, weights_c, noise_c, fixed_c, c = xs
    real_labels, syn_labels = jnp.full(real_c.shape[0], c), jnp.full(d.cpc, c)
    augment_syn = lambda syn: syn  # noqa: E731
    if augment_key is not None:
      real_c, augment_syn = augmented_alike(
          functools.partial(geometry.augment_together, jax.random.fold_in(augment_key, c),
                            up=d.augment_up, dropout=d.augment_dropout),
          real_c, (d.cpc, *noise_c.shape[1:-1], 3))
    syn_targets = (task.synthetic_targets(noise_c, syn_labels) if fixed_targets is None
                   else fixed_c)
    if task.match_groups is None:  # one gradient of the whole loss per class
      g_real = jax.lax.stop_gradient(gradient.loss_gradient(
          apply_net, task, net_params, real_c, real_labels, targets_c, weights_c))

      def loss_c(shared, rows_c):
        syn = augment_syn(synth.class_points(shared, rows_c, noise_c, c))
        g_syn = gradient.loss_gradient(apply_net, task, net_params, syn, syn_labels, syn_targets)
        return gradient.match_distance(g_real, g_syn, d.metric)
    else:  # gradients per group, the whole cloud a group of its own unless `per_group`
      def groups(targets):
        if per_group:
          return task.match_groups(targets, c)
        return jnp.ones((1, *targets.shape), jnp.float32), jnp.ones(1, bool)

      real_masks, valid = groups(targets_c)
      g_real = jax.lax.stop_gradient(gradient.group_gradients(
          apply_net, task, net_params, real_c, real_labels, targets_c, real_masks, weights_c,
          valid))

      def loss_c(shared, rows_c):
        syn = augment_syn(synth.class_points(shared, rows_c, noise_c, c))
        g_syn = gradient.group_gradients(apply_net, task, net_params, syn, syn_labels, syn_targets,
                                groups(syn_targets)[0], valid=valid)
        distances = jax.vmap(functools.partial(gradient.match_distance, metric=d.metric))(
            g_real, g_syn)
        return jnp.sum(jnp.where(valid, distances, 0.0))

    loss, (g_shared, g_rows) = jax.value_and_grad(loss_c, argnums=(0, 1))(shared, rows_c)
    return loss, g_shared, g_rows

  fixed = (jnp.zeros(d.num_classes) if fixed_targets is None
           else fixed_targets.reshape(d.num_classes, d.cpc, *fixed_targets.shape[1:]))
  losses, g_shared, g_rows = map_classes(
      per_class, (rows, real_points, real_targets, real_weights, noise, fixed,
                  jnp.arange(d.num_classes)), d.class_chunk, d.mesh)
  return losses.sum(), synth.join(jax.tree.map(lambda g: g.sum(axis=0), g_shared), g_rows)


def real_batch(distiller: Distiller, key: jax.Array,
               real: RealData) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Class-balanced real clouds at the training resolution, their targets (per-point
  targets follow the kept points) and weights: [K, B, P', 3], [K, B, ...], [K, B]."""
  k_pick, k_sub, k_aug = jax.random.split(key, 3)
  points, targets, weights = sample_real(k_pick, k_sub, real, distiller.batch_real,
                                         distiller.train_points)
  if distiller.augment_real:
    points = geometry.augment(k_aug, points)
  return points, targets, weights


def set_batch_statistics(distiller: Distiller, net_vars: Any, real: RealData,
                         key: jax.Array) -> Any:
  """`net_vars` with BatchNorm running statistics updated by one training-mode pass over
  `bn_clouds` real clouds of every class (a class with fewer repeats its own clouds)."""
  d = distiller
  k_pick, k_sub = jax.random.split(key)
  draws = min(d.bn_clouds, real.class_index.shape[1])
  idx, weights = class_balanced_indices(k_pick, real, draws)
  drawn = jnp.maximum(jnp.sum(weights > 0, axis=1, keepdims=True), 1)
  idx = jnp.take_along_axis(idx, jnp.arange(d.bn_clouds)[None] % drawn, axis=1)
  points = real.points[idx]
  if d.train_points < points.shape[-2]:
    points = geometry.normalize_to_unit_sphere(
        geometry.subsample(k_sub, points, d.train_points))
  labels = jnp.repeat(jnp.arange(d.num_classes), d.bn_clouds)
  _, state = d.network.apply(net_vars, points.reshape(-1, *points.shape[2:]), labels,
                             train=True)
  return {**net_vars, **state}


def update(distiller: Distiller, gen_params: Any, opt_state: Any, net_vars: Any,
           real: RealData, k_real: jax.Array, k_noise: jax.Array, ol: jax.Array | int = 0,
           fixed_targets: jax.Array | None = None) -> tuple[Any, Any, jax.Array]:
  """One update of the set at outer step `ol`: match every class's gradients once (per
  group at odd `ol`, where the task has groups), one step of its optimiser.

  Returns:
    (gen_params, opt_state, GM loss summed over classes).
  """
  d = distiller
  points, targets, weights = real_batch(d, k_real, real)
  noise = jax.random.uniform(k_noise, (d.num_classes, d.cpc, d.train_points,
                                       d.synthesizer.noise_dim))
  augment_key = jax.random.fold_in(k_noise, AUGMENT_STREAM) if d.augment else None

  def matched(per_group):
    return matching_loss_and_grad(d, gen_params, net_vars, points, targets, weights, noise,
                                  per_group, fixed_targets, augment_key)

  if d.target_task.match_groups is None:
    loss, grads = matched(False)
  else:
    loss, grads = jax.lax.cond(ol % 2 == 0, lambda: matched(False), lambda: matched(True))
  updates, opt_state = d.generator_optimizer().update(grads, opt_state, gen_params)
  return optax.apply_updates(gen_params, updates), opt_state, loss


def outer_step(distiller: Distiller, gen_params: Any, opt_state: Any, net_vars: Any,
               real: RealData, key: jax.Array) -> tuple[Any, Any, jax.Array]:
  """One generator update from one key (outer step 0): `update` with the real batch and
  noise drawn from `key`, as DD3D's classification iteration draws them."""
  k_real, k_noise = jax.random.split(key)
  return update(distiller, gen_params, opt_state, net_vars, real, k_real, k_noise)


def iteration(distiller: Distiller, state: DistillState, real: RealData,
              fixed_targets: jax.Array | None = None) -> tuple[DistillState, dict]:
  """One DD3D iteration (pure; `jax.jit(functools.partial(iteration, distiller))`).

  Args:
    fixed_targets: a tensor set's targets [K * cpc, ...] (GM for parts: its points keep
      the part ids of the real clouds it starts from); None: from the noise.
  Returns:
    (next state, {'loss': mean GM distance per class and outer step}).
  """
  d = distiller

  def step(gen_params, opt_state, net_vars, ol, key):
    if d.target_task.bn_from_real:
      k_bn, k_real, k_noise, k_inner = jax.random.split(key, 4)
      net_vars = set_batch_statistics(d, net_vars, real, k_bn)
    else:
      k_step, k_inner = jax.random.split(key)
      k_real, k_noise = jax.random.split(k_step)
    gen_params, opt_state, loss = update(d, gen_params, opt_state, net_vars, real, k_real,
                                         k_noise, ol, fixed_targets)
    return gen_params, opt_state, net_vars, loss, k_inner

  return unrolled_iteration(d, state, step, lambda gen_params, key: labelled_set(
      d, gen_params, key, d.train_points, fixed_targets))


def unrolled_iteration(distiller: Distiller, state: DistillState, step,
                       synthetic_set) -> tuple[DistillState, dict]:
  """The loop of every gradient-matching iteration: a fresh network, then `outer_loop`
  times `step`, each but the last followed by `inner_loop` epochs of training the network
  on the regenerated synthetic set (SGD, batch `batch_syn`).

  Args:
    step: `step(gen_params, opt_state, net_vars, ol, key) -> (gen_params, opt_state,
      net_vars, loss, inner_key)`: one update of the set at outer step `ol` from the key
      of that step, and the part of the key it leaves to the inner loop.
    synthetic_set: `synthetic_set(gen_params, key) -> (points [K * cpc, N, 3], targets
      [K * cpc, ...])`, what the inner loop trains on.
  Returns:
    (next state, {'loss': mean loss per class and outer step}).
  """
  key = state.step_key()
  k_net, k_loop = jax.random.split(key)
  net_tx = distiller.network_optimizer()
  net_vars = distiller.network.init(k_net)
  syn_labels = gen_lib.synthetic_labels(distiller.num_classes, distiller.cpc)

  def inner(net_vars, net_opt, gen_params, key):
    k_gen, k_train = jax.random.split(key)
    points, targets = synthetic_set(gen_params, k_gen)
    net_vars, net_opt, _ = training.train_epochs(
        distiller.network, distiller.target_task, net_tx, net_vars, net_opt, points, syn_labels,
        targets, k_train, num_epochs=distiller.inner_loop, batch_size=distiller.batch_syn,
        augment=False)
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
