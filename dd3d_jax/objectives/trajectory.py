"""Trajectory matching (MTT, Cazenavette et al. 2022): a student trained on the synthetic
set for a few SGD steps from an expert's parameters theta_t, scored by how close it
lands to the expert's theta_{t+M}:

    loss = ||theta_student - theta_{t+M}||^2 / ||theta_t - theta_{t+M}||^2

differentiated through the whole unroll (`methods.tm` trains a tensor by it).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp


def squared_distance(a: Any, b: Any) -> jax.Array:
  """Sum of squared differences over every leaf of two pytrees of one structure."""
  return sum(jnp.sum(jnp.square(x - y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def batch_indices(key: jax.Array, num_clouds: int, batch: int, steps: int) -> jax.Array:
  """Mini-batches of synthetic clouds for `steps` student steps: [steps, batch] int32,
  successive permutations cut into batches (every cloud once per pass), or every cloud
  in every step when `batch >= num_clouds`."""
  if batch >= num_clouds:
    return jnp.broadcast_to(jnp.arange(num_clouds, dtype=jnp.int32), (steps, num_clouds))
  passes = -(-steps * batch // num_clouds)
  perms = jax.vmap(lambda k: jax.random.permutation(k, num_clouds))(
      jax.random.split(key, passes))
  return perms.reshape(-1)[:steps * batch].reshape(steps, batch).astype(jnp.int32)


def student_unroll(batch_loss: Callable, start: Any, lr: jax.Array, batches: jax.Array,
                   keys: jax.Array, remat: bool = False) -> Any:
  """The student's parameters after one SGD step per batch:
  theta <- theta - lr * grad batch_loss(theta, batch, key).

  Args:
    batch_loss: `batch_loss(theta, indices [B], key) -> scalar`, differentiable in
      whatever it closes over (the synthetic set).
    start: the expert's parameters theta_t (a pytree).
    lr: the (learnable) step size, scalar.
    batches: [S, B] int, the clouds of each step; keys: [S] one key per step.
    remat: rematerialise each step in the backward pass, so that memory holds one
      parameter pytree per step instead of every step's activations.
  """
  def step(theta, xs):
    grads = jax.grad(batch_loss)(theta, *xs)
    return jax.tree.map(lambda t, g: t - lr * g, theta, grads), None

  if remat:
    step = jax.checkpoint(step, prevent_cse=False)
  theta, _ = jax.lax.scan(step, start, (batches, keys))
  return theta


def trajectory_loss(student: Any, start: Any, target: Any) -> jax.Array:
  """||student - target||^2 / ||start - target||^2 (scalar): 1 for a student that did
  not move, 0 for one that reached the target."""
  return squared_distance(student, target) / squared_distance(start, target)
