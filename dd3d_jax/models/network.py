"""`Classifier` and `Segmenter`: a network behind a rotator, as one pure init/apply pair
over all variables.

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
class RotatedNetwork:
  """A Flax network preceded by a rotator, with all of its variables in one pytree: what
  `Classifier` and `Segmenter` share. Hashable (a static argument of `jax.jit`).

  Attributes:
    net: the Flax module.
    rotator: an init/apply rotator (`dd3d_jax.rotator`); identity when aligned.
  """
  net: nn.Module
  rotator: Any = IdentityRotator()

  def _variables(self, net_variables: Any, rotator_key: jax.Array) -> Variables:
    """The net's own variables with the rotator's parameters beside its parameters."""
    net_variables = dict(net_variables)
    return {**net_variables, 'params': {'net': net_variables['params'],
                                        'rotator': self.rotator.init(rotator_key)}}

  def _forward(self, variables: Variables, points: jax.Array, *inputs: jax.Array,
               train: bool, rngs: dict | None = None,
               method: str | None = None) -> tuple[Any, Variables]:
    """The net (or its `method`) on rotated points, and its state collections: updated
    in training mode, the given ones otherwise."""
    points = self.rotator.apply(variables['params']['rotator'], points)
    state = state_of(variables)
    net_variables = {**state, 'params': variables['params']['net']}
    if train and state:
      return self.net.apply(net_variables, points, *inputs, train=True, rngs=rngs,
                            method=method, mutable=list(state))
    return self.net.apply(net_variables, points, *inputs, train=train, rngs=rngs,
                          method=method), state


@dataclasses.dataclass(frozen=True)
class Classifier(RotatedNetwork):
  """A classification network preceded by a rotator (sign canonicalisation).

  The rotator's parameters sit beside the network's under 'params', so gradient
  matching sees the learnable rotator's parameters too (1-D, they add 0 to the 'ours'
  distance).

  Attributes:
    net: a Flax module mapping ([B, N, 3], train) to logits [B, K], with `embed`.
    rotator: an init/apply rotator (`dd3d_jax.rotator`); identity when aligned.
  """

  def init(self, key: jax.Array) -> Variables:
    """Fresh variables (PyTorch-default init for the reference networks)."""
    k_net, k_drop, k_rot = jax.random.split(key, 3)
    dummy = jnp.zeros((2, 16, 3), jnp.float32)
    return self._variables(self.net.init({'params': k_net, 'dropout': k_drop}, dummy,
                                         train=False), k_rot)

  def apply(self, variables: Variables, points: jax.Array, *, train: bool = False,
            key: jax.Array | None = None) -> tuple[jax.Array, Variables]:
    """Logits and updated state. points: [B, N, 3] -> ([B, num_classes], state collections).

    Args:
      train: training mode (batch statistics, dropout); state collections are updated.
      key: dropout key (training mode only; None runs without dropout randomness).
    """
    return self._forward(variables, points, train=train,
                         rngs={'dropout': key} if key is not None else {})

  def logits(self, variables: Variables, points: jax.Array) -> jax.Array:
    """Inference logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.apply(variables, points)[0]

  def embed(self, variables: Variables, points: jax.Array, *, train: bool = False) -> jax.Array:
    """Global features. points: [B, N, 3] -> [B, F].

    `train=True` uses batch statistics (as distribution matching does with a fresh
    network); state updates are discarded.
    """
    return self._forward(variables, points, train=train, method='embed')[0]


@dataclasses.dataclass(frozen=True)
class Segmenter(RotatedNetwork):
  """A part-segmentation network preceded by a rotator: `Classifier`'s variables and
  conventions, with the shape class of every cloud as a second input.

  Attributes:
    net: a Flax module mapping ([B, N, 3], [B] shape classes, train) to part logits
      [B, N, P] (`models.pointnet.PointNetSeg`).
    rotator: an init/apply rotator; identity when aligned.
  """

  def init(self, key: jax.Array) -> Variables:
    """Fresh variables (PyTorch-default init; BatchNorm statistics 0 and 1)."""
    k_net, k_rot = jax.random.split(key)
    dummy = jnp.zeros((2, 16, 3), jnp.float32)
    return self._variables(self.net.init(k_net, dummy, jnp.zeros(2, jnp.int32), train=False),
                           k_rot)

  def apply(self, variables: Variables, points: jax.Array, shape_labels: jax.Array, *,
            train: bool = False) -> tuple[jax.Array, Variables]:
    """Part logits and updated state.

    Args:
      points: [B, N, 3]; shape_labels: [B] int.
      train: batch statistics, and the running averages updated; else the running ones.
    Returns:
      ([B, N, num_parts] logits, state collections).
    """
    return self._forward(variables, points, shape_labels, train=train)

  def logits(self, variables: Variables, points: jax.Array,
             shape_labels: jax.Array) -> jax.Array:
    """Inference part logits: [B, N, num_parts]."""
    return self.apply(variables, points, shape_labels)[0]
