"""Networks, and `Classifier`: a network behind a rotator, as one pure init/apply pair."""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.models.pointnet import PointNetCls, PointNetSeg, instance_norm
from dd3d_jax.rotator import IdentityRotator

ARCHITECTURES = {'pointnet': PointNetCls}


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A classification network preceded by a rotator (sign canonicalisation).

  Hashable, so it can be a static argument of `jax.jit`. Parameters are one
  pytree `{'net': ..., 'rotator': ...}`, so gradient matching sees the learnable
  rotator's parameters too (1-D, they add 0 to the 'ours' distance).

  Attributes:
    net: a Flax module mapping [B, N, 3] to logits, with an `embed` method.
    rotator: an init/apply rotator (`dd3d_jax.rotator`); identity when aligned.
  """
  net: nn.Module
  rotator: Any = IdentityRotator()

  def init(self, key: jax.Array) -> dict:
    """Fresh parameters (PyTorch-default init for the reference PointNet)."""
    k_net, k_rot = jax.random.split(key)
    dummy = jnp.zeros((1, 16, 3), jnp.float32)
    return {'net': self.net.init(k_net, dummy)['params'], 'rotator': self.rotator.init(k_rot)}

  def apply(self, params: dict, points: jax.Array) -> jax.Array:
    """Logits. points: [B, N, 3] -> [B, num_classes]."""
    points = self.rotator.apply(params['rotator'], points)
    return self.net.apply({'params': params['net']}, points)

  def embed(self, params: dict, points: jax.Array) -> jax.Array:
    """Global features. points: [B, N, 3] -> [B, F]."""
    points = self.rotator.apply(params['rotator'], points)
    return self.net.apply({'params': params['net']}, points, method='embed')


def make_classifier(arch: str, num_classes: int, rotator: Any = IdentityRotator()) -> Classifier:
  """A `Classifier` for a named architecture (see `ARCHITECTURES`)."""
  if arch not in ARCHITECTURES:
    raise ValueError(f'unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}.')
  return Classifier(ARCHITECTURES[arch](num_classes=num_classes), rotator)


__all__ = ['ARCHITECTURES', 'Classifier', 'PointNetCls', 'PointNetSeg', 'instance_norm',
           'make_classifier']
