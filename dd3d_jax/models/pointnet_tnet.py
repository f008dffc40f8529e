"""The original PointNet classifier (Qi et al. 2017a): input T-Net, BatchNorm, dropout.

Follows `pointnet/model.py` of fxia22/pointnet.pytorch, the PyTorch PointNet that SADM
(donguk071/SADM, `pointnet/pointnet_model.py`) copies and distils with:

  T-Net      conv 3-64-128-1024 (BN, ReLU), max over points, Linear 512, 256 (BN, ReLU),
             Linear 9, plus the identity: a 3x3 matrix applied to the input points
  trunk      conv 3-64 (BN, ReLU), 64-128 (BN, ReLU), 128-1024 (BN): the point-wise
             features `x_m` that SADM sorts; max over points: the 1,024-d global feature
  head       Linear 512, BN, ReLU; Linear 256, dropout 0.3, BN, ReLU; Linear K

Unlike `pointnet` (the authors' lightweight DD3D network: InstanceNorm, no T-Net), this
one keeps BatchNorm statistics. The feature T-Net (`feature_transform`) is off in both
references' defaults and is not built. Layers have biases, as PyTorch's Conv1d/Linear.
With K = 40: 1,614,129 parameters, as the reference's layer list (the ~3.5 M usually
quoted includes the feature T-Net).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.models.layers import batch_norm, dense


class ConvStack(nn.Module):
  """1x1 convs with bias, each followed by BatchNorm (and ReLU but after the last one
  when `last_relu` is False)."""
  widths: tuple[int, ...]
  last_relu: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [..., C] -> [..., widths[-1]]."""
    for i, width in enumerate(self.widths):
      x = batch_norm(train, f'bn{i}')(dense(width, x.shape[-1], f'conv{i}')(x))
      if self.last_relu or i < len(self.widths) - 1:
        x = jax.nn.relu(x)
    return x


class TNet(nn.Module):
  """The input transform: a 3x3 matrix per cloud, the identity plus a learned offset."""
  widths: tuple[int, ...] = (64, 128, 1024)
  fc: tuple[int, ...] = (512, 256)

  @nn.compact
  def __call__(self, points: jax.Array, train: bool) -> jax.Array:
    """points: [B, N, 3] -> [B, 3, 3]."""
    x = ConvStack(self.widths, name='convs')(points, train).max(axis=-2)
    for i, width in enumerate(self.fc):
      x = jax.nn.relu(batch_norm(train, f'fc_bn{i}')(dense(width, x.shape[-1], f'fc{i}')(x)))
    x = dense(9, x.shape[-1], f'fc{len(self.fc)}')(x)
    return x.reshape(-1, 3, 3) + jnp.eye(3, dtype=x.dtype)


class Head(nn.Module):
  """Linear-BN-ReLU per hidden width (dropout before the last BatchNorm, as the
  reference), then Linear to the logits."""
  num_classes: int
  widths: tuple[int, ...]
  dropout: float

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, F] -> [B, num_classes]."""
    for i, width in enumerate(self.widths):
      x = dense(width, x.shape[-1], f'fc{i}')(x)
      if i == len(self.widths) - 1:
        x = nn.Dropout(self.dropout, deterministic=not (train and self.has_rng('dropout')))(x)
      x = jax.nn.relu(batch_norm(train, f'bn{i}')(x))
    return dense(self.num_classes, x.shape[-1], f'fc{len(self.widths)}')(x)


class PointNetTNet(nn.Module):
  """The original PointNet classifier; the defaults are the reference configuration."""
  num_classes: int
  widths: tuple[int, ...] = (64, 128, 1024)
  tnet_fc: tuple[int, ...] = (512, 256)
  head: tuple[int, ...] = (512, 256)
  dropout: float = 0.3

  def setup(self):
    self.tnet = TNet(self.widths, self.tnet_fc)
    self.trunk = ConvStack(self.widths, last_relu=False)
    self.classifier = Head(self.num_classes, self.head, self.dropout)

  def features(self, points: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    """(point-wise features [B, N, widths[-1]] before the max, the global feature
    [B, widths[-1]]). points: [B, N, 3]."""
    x = jnp.einsum('bnc,bcd->bnd', points, self.tnet(points, train))
    pointwise = self.trunk(x, train)
    return pointwise, pointwise.max(axis=-2)

  def embed(self, points: jax.Array, train: bool = False) -> jax.Array:
    """The global feature. points: [B, N, 3] -> [B, widths[-1]]."""
    return self.features(points, train)[1]

  def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
    """Class logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.classifier(self.embed(points, train), train)


def make(num_classes: int, **overrides) -> nn.Module:
  """The network of `model.arch = 'pointnet_tnet'`; `overrides` replace PointNetTNet fields."""
  return PointNetTNet(num_classes=num_classes, **overrides)
