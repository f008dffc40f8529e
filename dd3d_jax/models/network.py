"""`Classifier`: a network behind a rotator, as one pure init/apply pair over all variables.

A network's variables are every Flax collection it has, not only its parameters:

    variables = {'params': {'net': ..., 'rotator': ...},   # what optimisers and GM see
                 'batch_stats': ...}                       # any state collection of the net

`apply(variables, points, train=..., key=...)` returns the logits and the updated
state collections (BatchNorm statistics in training mode; unchanged otherwise), so
training threads state explicitly and gradients are taken w.r.t. `variables['params']`.
A network module is any Flax module with `__call__(points, train)` and
`embed(points, train)`; dropout, if it has any, draws from the 'dropout' stream.
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
class Classifier:
  """A classification network preceded by a rotator (sign canonicalisation).

  Hashable, so it can be a static argument of `jax.jit`. The rotator's parameters
  sit beside the network's under 'params', so gradient matching sees the learnable
  rotator's parameters too (1-D, they add 0 to the 'ours' distance).

  Attributes:
    net: a Flax module mapping ([B, N, 3], train) to logits [B, K], with `embed`.
    rotator: an init/apply rotator (`dd3d_jax.rotator`); identity when aligned.
  """
  net: nn.Module
  rotator: Any = IdentityRotator()

  def init(self, key: jax.Array) -> Variables:
    """Fresh variables (PyTorch-default init for the reference networks)."""
    k_net, k_drop, k_rot = jax.random.split(key, 3)
    dummy = jnp.zeros((2, 16, 3), jnp.float32)
    variables = dict(self.net.init({'params': k_net, 'dropout': k_drop}, dummy, train=False))
    return {**variables, 'params': {'net': variables['params'],
                                    'rotator': self.rotator.init(k_rot)}}

  def _net_variables(self, variables: Variables) -> Variables:
    return {**state_of(variables), 'params': variables['params']['net']}

  def apply(self, variables: Variables, points: jax.Array, *, train: bool = False,
            key: jax.Array | None = None) -> tuple[jax.Array, Variables]:
    """Logits and updated state. points: [B, N, 3] -> ([B, num_classes], state collections).

    Args:
      train: training mode (batch statistics, dropout); state collections are updated.
      key: dropout key (training mode only; None runs without dropout randomness).
    """
    points = self.rotator.apply(variables['params']['rotator'], points)
    rngs = {'dropout': key} if key is not None else {}
    state = state_of(variables)
    if train and state:
      return self.net.apply(self._net_variables(variables), points, train=True, rngs=rngs,
                            mutable=list(state))
    return self.net.apply(self._net_variables(variables), points, train=train, rngs=rngs), state

  def logits(self, variables: Variables, points: jax.Array) -> jax.Array:
    """Inference logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.apply(variables, points)[0]

  def embed(self, variables: Variables, points: jax.Array, *, train: bool = False) -> jax.Array:
    """Global features. points: [B, N, 3] -> [B, F].

    `train=True` uses batch statistics (as distribution matching does with a fresh
    network); state updates are discarded.
    """
    points = self.rotator.apply(variables['params']['rotator'], points)
    state = state_of(variables)
    if train and state:
      return self.net.apply(self._net_variables(variables), points, train=True, method='embed',
                            mutable=list(state))[0]
    return self.net.apply(self._net_variables(variables), points, train=train, method='embed')


@dataclasses.dataclass(frozen=True)
class Segmenter:
  """A part-segmentation network preceded by a rotator: `Classifier`'s variables and
  conventions, with the shape class of every cloud as a second input.

  Attributes:
    net: a Flax module mapping ([B, N, 3], [B] shape classes, train) to part logits
      [B, N, P] (`models.pointnet.PointNetSeg`).
    rotator: an init/apply rotator; identity when aligned.
  """
  net: nn.Module
  rotator: Any = IdentityRotator()

  def init(self, key: jax.Array) -> Variables:
    """Fresh variables (PyTorch-default init; BatchNorm statistics 0 and 1)."""
    k_net, k_rot = jax.random.split(key)
    dummy = jnp.zeros((2, 16, 3), jnp.float32)
    variables = dict(self.net.init(k_net, dummy, jnp.zeros(2, jnp.int32), train=False))
    return {**variables, 'params': {'net': variables['params'],
                                    'rotator': self.rotator.init(k_rot)}}

  def apply(self, variables: Variables, points: jax.Array, shape_labels: jax.Array, *,
            train: bool = False) -> tuple[jax.Array, Variables]:
    """Part logits and updated state.

    Args:
      points: [B, N, 3]; shape_labels: [B] int.
      train: batch statistics, and the running averages updated; else the running ones.
    Returns:
      ([B, N, num_parts] logits, state collections).
    """
    points = self.rotator.apply(variables['params']['rotator'], points)
    net_vars = {**state_of(variables), 'params': variables['params']['net']}
    if train and state_of(variables):
      return self.net.apply(net_vars, points, shape_labels, train=True,
                            mutable=list(state_of(variables)))
    return self.net.apply(net_vars, points, shape_labels, train=train), state_of(variables)

  def logits(self, variables: Variables, points: jax.Array,
             shape_labels: jax.Array) -> jax.Array:
    """Inference part logits: [B, N, num_parts]."""
    return self.apply(variables, points, shape_labels)[0]
