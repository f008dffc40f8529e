"""Networks: one module per architecture, found by name, and the wrapper.

`model.arch = NAME` uses `dd3d_jax.models.NAME.make(num_classes) -> flax module`
(see `dd3d_jax.registry`); `network.Network` puts a rotator in front of it, with one call
signature for every task. Part segmentation uses `pointnet.PointNetSeg`, a network
conditioned on the shape class.
"""

from __future__ import annotations

from typing import Any

from dd3d_jax import registry
from dd3d_jax.models.network import Network, Variables, state_of
from dd3d_jax.models.pointnet import PointNetCls, PointNetSeg, instance_norm
from dd3d_jax.rotator import IdentityRotator


def make_network(arch: str, num_classes: int, rotator: Any = IdentityRotator()) -> Network:
  """A `Network` of `num_classes` outputs for a named architecture (a module of
  `dd3d_jax.models`)."""
  return Network(registry.get('networks', arch).make(num_classes), rotator)


def make_segmenter(num_parts: int, num_classes: int,
                   rotator: Any = IdentityRotator()) -> Network:
  """The reference part-segmentation PointNet for `num_classes` shape classes."""
  return Network(PointNetSeg(num_parts=num_parts, num_shape_classes=num_classes), rotator,
                 conditioned=True)


__all__ = ['Network', 'PointNetCls', 'PointNetSeg', 'Variables', 'instance_norm', 'make_network',
           'make_segmenter', 'state_of']
