"""`Network`: a network behind a rotator, as one pure init/apply pair over all variables.

A network's variables are every Flax collection it has, not only its parameters:

    variables = {'params': {'net': ..., 'rotator': ...},   # what optimisers and GM see
                 'batch_stats': ...}                       # any state collection of the net

`apply(variables, points, labels, train=..., key=...)` returns the outputs and the updated
state collections (BatchNorm statistics in training mode; unchanged otherwise), so
training threads state explicitly and gradients are taken w.r.t. `variables['params']`.
A network module is any Flax module with `__call__(points, train)` (or
`__call__(points, labels, train)`, `conditioned`) and `embed`; dropout, if it has any,
draws from the 'dropout' stream.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.rotator import IdentityRotator

Variables = dict[str, Any]


def state_of(variables: Variables) -> Variables:
  """The non-parameter collections of `variables` (e.g. {'batch_stats': ...}, or {})."""
  return {name: v for name, v in variables.items() if name != 'params'}


@dataclasses.dataclass(frozen=True)
class Network:
  """A Flax network behind a rotator, with all of its variables in one pytree; the one
  call signature of every network of every task. Hashable (a static argument of jit).

  `apply(variables, points, labels, train=..., key=...)`: `labels` [B] are the clouds'
  shape classes; a `conditioned` network takes them as its second input (the
  part-segmentation PointNet is told each cloud's class), the others ignore them.
  The rotator's parameters sit beside the network's under 'params', so gradient
  matching sees the learnable rotator's parameters too (1-D, they add 0 to the 'ours'
  distance).

  Attributes:
    net: a Flax module mapping ([B, N, 3], train) (conditioned: ([B, N, 3], [B],
      train)) to outputs (logits [B, K], part logits [B, N, P], ...), with `embed`
      where features are needed (herding, k-center, DM).
    rotator: an init/apply rotator (`dd3d_jax.rotator`); identity when aligned.
    conditioned: the module takes the shape classes as an input.
  """
  net: nn.Module
  rotator: Any = IdentityRotator()
  conditioned: bool = False

  def init(self, key: jax.Array) -> Variables:
    """Fresh variables (PyTorch-default init for the reference networks; BatchNorm
    statistics 0 and 1)."""
    dummy = jnp.zeros((2, 16, 3), jnp.float32)
    if self.conditioned:
      k_net, k_rot = jax.random.split(key)
      net_variables = self.net.init(k_net, dummy, jnp.zeros(2, jnp.int32), train=False)
    else:
      k_net, k_drop, k_rot = jax.random.split(key, 3)
      net_variables = self.net.init({'params': k_net, 'dropout': k_drop}, dummy, train=False)
    net_variables = dict(net_variables)
    return {**net_variables, 'params': {'net': net_variables['params'],
                                        'rotator': self.rotator.init(k_rot)}}

  def _forward(self, variables: Variables, points: jax.Array, labels: jax.Array | None,
               train: bool, key: jax.Array | None = None,
               method: str | None = None) -> tuple[Any, Variables]:
    """The net (or its `method`) on rotated points, and its state collections: updated
    in training mode, the given ones otherwise."""
    points = self.rotator.apply(variables['params']['rotator'], points)
    inputs = (points, labels) if self.conditioned else (points,)
    state = state_of(variables)
    net_variables = {**state, 'params': variables['params']['net']}
    rngs = {'dropout': key} if key is not None else {}
    if train and state:
      return self.net.apply(net_variables, *inputs, train=True, rngs=rngs, method=method,
                            mutable=list(state))
    return self.net.apply(net_variables, *inputs, train=train, rngs=rngs,
                          method=method), state

  def apply(self, variables: Variables, points: jax.Array, labels: jax.Array | None = None,
            *, train: bool = False, key: jax.Array | None = None) -> tuple[Any, Variables]:
    """Outputs and updated state.

    Args:
      points: [B, N, 3]; labels: [B] int shape classes (needed by a conditioned net).
      train: training mode (batch statistics, dropout); state collections are updated.
      key: dropout key (training mode only; None runs without dropout randomness).
    Returns:
      (outputs, e.g. [B, K] or [B, N, P] logits; state collections).
    """
    return self._forward(variables, points, labels, train, key)

  def logits(self, variables: Variables, points: jax.Array,
             labels: jax.Array | None = None) -> jax.Array:
    """Inference outputs of `apply`."""
    return self.apply(variables, points, labels)[0]

  def embed(self, variables: Variables, points: jax.Array, labels: jax.Array | None = None,
            *, train: bool = False) -> jax.Array:
    """Global features. points: [B, N, 3] -> [B, F].

    `train=True` uses batch statistics (as distribution matching does with a fresh
    network); state updates are discarded.
    """
    return self._forward(variables, points, labels, train, method='embed')[0]

  def embed_stages(self, variables: Variables, points: jax.Array,
                   labels: jax.Array | None = None, *, train: bool = False) -> list[jax.Array]:
    """Each stage's features averaged over its points, then the global features.

    A stage is a top-level module of the net whose output keeps a point axis ([B, S, F]
    or [B, S, k, F], F != 3: coordinates are left out); its features are averaged over
    every axis but the first and the last. The stages are found by Flax's
    `capture_intermediates`, so every backbone has them without code of its own.

    points: [B, N, 3] -> [[B, F_1], ..., [B, F_s], [B, F]] (the last: `embed`).
    """
    points = self.rotator.apply(variables['params']['rotator'], points)
    inputs = (points, labels) if self.conditioned else (points,)
    state = state_of(variables)
    features, captured = self.net.apply(
        {**state, 'params': variables['params']['net']}, *inputs, train=train, method='embed',
        capture_intermediates=lambda module, name: (name == '__call__'
                                                    and len(module.scope.path) == 1),
        mutable=['intermediates', *(state if train else ())])
    stages = [x.mean(axis=tuple(range(1, x.ndim - 1)))
              for x in jax.tree.leaves(captured['intermediates'])
              if x.ndim >= 3 and x.shape[-1] != 3]
    return [*stages, features]
