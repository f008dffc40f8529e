"""Training a network on clouds held on the device, for any task; all jitted.

Used twice: by distillation's inner loop (SGD on regenerated synthetic clouds) and
by evaluation (Adam on a distilled set or a coreset, then the real test split).
An epoch is a `lax.scan` over shuffled mini-batches; a short last batch is padded
and masked, so every epoch has the same static shape and compiles once.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import optax

from dd3d_jax import geometry
from dd3d_jax.devices import replicate, shard_batch


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Mini-batches per epoch (the last one may be short)."""
  return math.ceil(num_examples / min(batch_size, num_examples))


def step_lr(base: float, epochs_per_step: int, batches_per_epoch: int, gamma: float = 0.1):
  """PyTorch's StepLR stepped once per epoch, as an optax schedule of the update count."""
  epochs_per_step = max(1, epochs_per_step)
  return lambda count: base * gamma ** ((count // batches_per_epoch) // epochs_per_step)


def cosine_lr(base: float, minimum: float, total_epochs: int, batches_per_epoch: int):
  """PyTorch's CosineAnnealingLR(T_max=total_epochs, eta_min) stepped once per epoch."""
  def schedule(count):
    epoch = jnp.minimum(count // batches_per_epoch, total_epochs)
    return minimum + (base - minimum) * 0.5 * (1 + jnp.cos(jnp.pi * epoch / total_epochs))
  return schedule


def torch_adam(learning_rate, weight_decay: float = 0.0) -> optax.GradientTransformation:
  """`torch.optim.Adam(weight_decay=wd)`: L2 added to the gradient before Adam (not AdamW)."""
  return optax.chain(optax.add_decayed_weights(weight_decay), optax.scale_by_adam(),
                     optax.scale_by_learning_rate(learning_rate))


def torch_sgd(learning_rate, momentum: float = 0.0,
              weight_decay: float = 0.0) -> optax.GradientTransformation:
  """`torch.optim.SGD(momentum, weight_decay)`."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.trace(decay=momentum) if momentum else optax.identity(),
                     optax.scale_by_learning_rate(learning_rate))


def per_key(txs: dict[str, optax.GradientTransformation]) -> optax.GradientTransformation:
  """One optimiser per top-level key of a dict of parameters (e.g. a set and its
  rotations); the state is the dict of their states."""
  def init(params):
    return {k: txs[k].init(v) for k, v in params.items()}

  def update(grads, state, params=None):
    out = {k: txs[k].update(g, state[k], None if params is None else params[k])
           for k, g in grads.items()}
    return {k: u for k, (u, _) in out.items()}, {k: s for k, (_, s) in out.items()}

  return optax.GradientTransformation(init, update)


def epoch_batches(key: jax.Array, num_examples: int,
                  batch_size: int) -> tuple[jax.Array, jax.Array]:
  """A shuffled epoch as padded mini-batches.

  Returns:
    indices: [S, B] int32 into the examples (padding repeats real examples).
    weights: [S, B] float32, 1/(real examples in the batch) for real entries, 0 for padding.
  """
  b = min(batch_size, num_examples)
  s = steps_per_epoch(num_examples, batch_size)
  perm = jax.random.permutation(key, num_examples)
  idx = jnp.concatenate([perm, perm[:s * b - num_examples]]).reshape(s, b)
  valid = (jnp.arange(s * b) < num_examples).reshape(s, b).astype(jnp.float32)
  return idx, valid / valid.sum(axis=1, keepdims=True)


def train_epochs(network: Any, task: Any, tx: optax.GradientTransformation, variables: Any,
                 opt_state: Any, points: jax.Array, labels: jax.Array, targets: jax.Array,
                 key: jax.Array, *, num_epochs: int, batch_size: int, augment: bool,
                 mesh: Any = None) -> tuple[Any, Any, jax.Array]:
  """Trains for `num_epochs` epochs of shuffled mini-batches (pure; jit it).

  Args:
    network: a `models.Network` (`apply(variables, x, labels, train, key)`).
    task: what the targets are and their loss (`dd3d_jax.tasks`; static).
    tx: optimiser of `variables['params']`; its schedule counts mini-batch updates.
    variables, opt_state: network variables (all collections) and optimiser state.
    points: [N, P, 3]; labels: [N] int shape classes; targets: [N, ...] the task's.
    key: PRNG key (shuffling, augmentation, dropout).
    num_epochs, batch_size: static.
    augment: apply `geometry.augment` to every mini-batch (the evaluation recipe).
    mesh: split every mini-batch over these devices (data parallel: the same
      function, BatchNorm statistics over the whole batch); None: one device.
  Returns:
    (variables, opt_state, mean training loss per epoch [num_epochs]).
  """
  n = points.shape[0]

  def step(carry, batch):
    variables, opt_state = carry
    idx, weights, k_step = batch
    k_aug, k_drop = jax.random.split(k_step)
    x = points[idx]
    if augment:
      x = geometry.augment(k_aug, x)
    x = shard_batch(x, mesh)

    def loss_fn(params):
      outputs, state = network.apply({**variables, 'params': params}, x, labels[idx],
                                     train=True, key=k_drop)
      return task.loss(outputs, targets[idx], weights), state

    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables['params'])
    updates, opt_state = tx.update(grads, opt_state, variables['params'])
    params = optax.apply_updates(variables['params'], updates)
    return ({**variables, **state, 'params': params}, opt_state), loss

  def epoch(carry, k):
    k_perm, k_steps = jax.random.split(k)
    idx, weights = epoch_batches(k_perm, n, batch_size)
    carry, losses = jax.lax.scan(step, carry, (idx, weights, jax.random.split(k_steps, len(idx))))
    return carry, losses.mean()

  (variables, opt_state), losses = jax.lax.scan(epoch, (variables, opt_state),
                                                jax.random.split(key, num_epochs))
  return variables, opt_state, losses


def map_batches(fn, points: Any, batch_size: int = 256, mesh: Any = None) -> jax.Array:
  """`fn` over chunks of `batch_size` clouds (the last padded), each chunk split over
  `mesh` if given, the result whole on every unit. [N, P, 3] -> [N, ...]; `points` may
  be a pytree of arrays with the same leading N (e.g. clouds and their classes)."""
  n = jax.tree.leaves(points)[0].shape[0]
  b = min(batch_size, n)
  pad = -n % b

  def chunks(x):
    x = jnp.concatenate([x, x[:pad]]) if pad else x
    return x.reshape(-1, b, *x.shape[1:])

  out = jax.lax.map(lambda x: fn(jax.tree.map(lambda a: shard_batch(a, mesh), x)),
                    jax.tree.map(chunks, points))
  return replicate(out.reshape(-1, *out.shape[2:])[:n], mesh)


def predict(network: Any, task: Any, variables: Any, points: jax.Array, labels: jax.Array,
            batch_size: int = 256, mesh: Any = None) -> jax.Array:
  """The task's predictions (inference mode), in chunks: points [N, P, 3], labels [N]
  -> [N, ...] (`task.predict` of the outputs)."""
  def chunk(batch):
    x, y = batch
    return task.predict(network.logits(variables, x, y), y)
  return map_batches(chunk, (points, labels), batch_size, mesh)
