"""Networks: one module per architecture, found by name, and the wrappers.

`model.arch = NAME` uses `dd3d_jax.models.NAME.make(num_classes) -> flax module`
(see `dd3d_jax.registry`); `network.Classifier` puts a rotator in front of it. Part
segmentation uses `pointnet.PointNetSeg` behind a rotator (`network.Segmenter`).
"""

from __future__ import annotations

from typing import Any

from dd3d_jax import registry
from dd3d_jax.models.network import Classifier, Segmenter, Variables, state_of
from dd3d_jax.models.pointnet import PointNetCls, PointNetSeg, instance_norm
from dd3d_jax.rotator import IdentityRotator


def make_classifier(arch: str, num_classes: int, rotator: Any = IdentityRotator()) -> Classifier:
  """A `Classifier` for a named architecture (a module of `dd3d_jax.models`)."""
  return Classifier(registry.get('networks', arch).make(num_classes), rotator)


def make_segmenter(num_parts: int, num_classes: int,
                   rotator: Any = IdentityRotator()) -> Segmenter:
  """The reference part-segmentation PointNet for `num_classes` shape classes."""
  return Segmenter(PointNetSeg(num_parts=num_parts, num_shape_classes=num_classes), rotator)


__all__ = ['Classifier', 'PointNetCls', 'PointNetSeg', 'Segmenter', 'Variables', 'instance_norm',
           'make_classifier', 'make_segmenter', 'state_of']
