"""Gradient matching (DD3D, GM): distances between gradient pytrees, the network
gradients they compare (of the whole cloud, or per group of points such as a part),
and the GM loss.

The 'ours' distance (DC, Zhao et al. 2021; the authors' `match_loss`) compares
gradients layer by layer and output unit by output unit: each parameter tensor
with 2+ dims is reshaped to rows (one per output unit) and contributes
`sum_rows 1 - <g_real, g_syn> / (|g_real| |g_syn| + 1e-6)`; 1-D tensors (biases,
norm scales) contribute 0. Flax kernels keep output units on the LAST axis
((in, out) for Dense, (..., in, out) for Conv), the transpose of PyTorch's
(out, in, ...), so rows are taken along the last axis here.

The GM loss differentiates through a gradient: `jax.grad(gm_loss)` with respect to
the generator parameters runs reverse mode over the `jax.grad` inside it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from dd3d_jax.models import Network
from dd3d_jax.tasks.classification import cross_entropy

METRICS = ('ours', 'mse', 'cos')
EPS = 1e-6


def _safe_norm(x: jax.Array, axis=None) -> jax.Array:
  """Euclidean norm with a zero (not NaN) gradient where the norm is 0."""
  sq = jnp.sum(jnp.square(x), axis=axis)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def output_rows(g: jax.Array) -> jax.Array:
  """A Flax-layout tensor [..., out] as rows per output unit: [out, prod(...)]."""
  return jnp.moveaxis(g, -1, 0).reshape(g.shape[-1], -1)


def layer_distance(g_real: jax.Array, g_syn: jax.Array) -> jax.Array:
  """The 'ours' distance of one parameter tensor (0 for 1-D tensors). Scalar."""
  if g_real.ndim < 2:
    return jnp.zeros((), jnp.float32)
  r, s = output_rows(g_real), output_rows(g_syn)
  cos = jnp.sum(r * s, axis=-1) / (_safe_norm(r, -1) * _safe_norm(s, -1) + EPS)
  return jnp.sum(1.0 - cos)


@functools.partial(jax.jit, static_argnames='metric')
def match_distance(g_real: Any, g_syn: Any, metric: str = 'ours') -> jax.Array:
  """Distance between two gradient pytrees of the same structure.

  Args:
    g_real: pytree of arrays (Flax layout: output units on the last axis).
    g_syn: pytree with the same structure and shapes.
    metric: 'ours' (layer-wise, row-wise cosine distance, summed), 'mse' (sum of
      squared differences of all entries) or 'cos' (1 - cosine of the flattened
      concatenations).
  Returns:
    Scalar float32 distance (jitted). For identical gradients 'mse' is 0 and 'cos'
    about 0; 'ours' is its floor: each row r contributes `eps / (|r|^2 + eps)` with
    eps = 1e-6 (the reference's guard against a zero norm), so tiny rows keep a
    distance (a row of zeros contributes 1) and large ones about 0.
  """
  leaves_r, tree_r = jax.tree.flatten(g_real)
  leaves_s, tree_s = jax.tree.flatten(g_syn)
  if tree_r != tree_s:
    raise ValueError(f'match_distance: gradient pytrees differ in structure: {tree_r} vs {tree_s}.')
  if metric == 'ours':
    return sum((layer_distance(r, s) for r, s in zip(leaves_r, leaves_s)),
               jnp.zeros((), jnp.float32))
  flat_r = jnp.concatenate([x.ravel() for x in leaves_r])
  flat_s = jnp.concatenate([x.ravel() for x in leaves_s])
  if metric == 'mse':
    return jnp.sum(jnp.square(flat_s - flat_r))
  if metric == 'cos':
    return 1.0 - jnp.sum(flat_r * flat_s) / (_safe_norm(flat_r) * _safe_norm(flat_s) + EPS)
  raise ValueError(f'unknown matching metric {metric!r}; use one of {METRICS}.')


def network_gradient(apply_fn: Callable | Network, net_params: Any, points: jax.Array,
                     labels: jax.Array, weights: jax.Array | None = None) -> Any:
  """Gradient of the (weighted) mean cross-entropy w.r.t. the network parameters.

  Args:
    apply_fn: `apply_fn(net_params, points [B, N, 3]) -> logits [B, K]`, or a
      `models.Network` as built (`models.make_network('pointnet', K)`), whose
      variables (`Network.init`) `net_params` then is.
    net_params: the network's parameter pytree (its variables, for a `Network`).
    points: [B, N, 3].
    labels: [B] int.
    weights: optional [B] summing to 1; see `cross_entropy`.
  Returns:
    A pytree shaped like `net_params` (like `net_params['params']` for a `Network`).
  """
  if isinstance(apply_fn, Network):
    network, variables = apply_fn, net_params
    apply_fn = lambda p, x: network.apply({**variables, 'params': p}, x, labels)[0]  # noqa: E731
    net_params = variables['params']
  return jax.grad(lambda p: cross_entropy(apply_fn(p, points), labels, weights))(net_params)


def gm_loss(gen_params: Any, net_params: Any, real_points: jax.Array, real_labels: jax.Array,
            noise: jax.Array, syn_indices: jax.Array, syn_labels: jax.Array, *,
            gen_apply: Callable, net_apply: Callable, metric: str = 'ours') -> jax.Array:
  """Gradient-matching loss of one class (or any batch of real and synthetic clouds).

  The real gradient is constant (`stop_gradient`); the synthetic one stays
  differentiable, so `jax.grad(gm_loss)` is a gradient of a gradient. Synthetic
  clouds are not renormalised before matching (as the reference).

  Args:
    gen_params: generator parameters (differentiated).
    net_params: network parameters (held fixed).
    real_points: [Br, N, 3]; real_labels: [Br] int.
    noise: [Bs, Ns, 1] generator noise; syn_indices: [Bs] embedding rows;
      syn_labels: [Bs] int.
    gen_apply: `gen_apply(gen_params, noise, indices) -> [Bs, Ns, 3]`.
    net_apply: `net_apply(net_params, points) -> logits`.
    metric: see `match_distance`.
  Returns:
    Scalar distance.
  """
  g_real = jax.lax.stop_gradient(network_gradient(net_apply, net_params, real_points, real_labels))
  syn_points = gen_apply(gen_params, noise, syn_indices)
  g_syn = network_gradient(net_apply, net_params, syn_points, syn_labels)
  return match_distance(g_real, g_syn, metric)


def loss_gradient(apply_fn, task: Any, net_params: Any, points: jax.Array, labels: jax.Array,
                  targets: jax.Array, weights: jax.Array | None = None) -> Any:
  """Gradient of the task's (weighted) loss w.r.t. the network parameters.

  Args:
    apply_fn: `apply_fn(net_params, points [B, N, 3], labels [B]) -> outputs`.
    points: [B, N, 3]; labels: [B] classes; targets: [B, ...] the task's.
    weights: optional [B] summing to 1 (0 masks a padded cloud).
  Returns:
    A pytree shaped like `net_params`.
  """
  return jax.grad(lambda p: task.loss(apply_fn(p, points, labels), targets, weights))(net_params)


def group_gradients(apply_fn, task: Any, net_params: Any, points: jax.Array, labels: jax.Array,
                    targets: jax.Array, masks: jax.Array, weights: jax.Array | None = None,
                    valid: jax.Array | None = None) -> Any:
  """The gradient of the task's loss counting each mask's points, from one forward pass.

  Args:
    masks: [J, B, N] which points each loss counts (part segmentation: one per part).
    valid: optional [J] bool: the masks to compute; the others' gradients are zeros,
      skipped (a class with fewer parts than the widest class computes fewer VJPs,
      where the class loop is sequential).
  Returns:
    A pytree shaped like `net_params` with a leading J axis.
  """
  outputs, vjp = jax.vjp(lambda p: apply_fn(p, points, labels), net_params)

  def one(mask):
    cotangent = jax.grad(lambda z: task.loss(z, targets, weights, mask))(outputs)
    return vjp(cotangent)[0]

  if valid is None:
    return jax.lax.map(one, masks)
  zeros = jax.tree.map(jnp.zeros_like, net_params)
  return jax.lax.map(lambda x: jax.lax.cond(x[1], one, lambda _: zeros, x[0]), (masks, valid))
