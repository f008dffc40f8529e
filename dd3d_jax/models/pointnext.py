"""PointNeXt-S classification network (Qian et al. 2022), xyz input only.

Followed, layer by layer:
  guochengqian/PointNeXt (commit 02341db):
    cfgs/modelnet40ply2048/pointnext-s.yaml   the configuration (the defaults below)
  guochengqian/openpoints (commit 8c115a9):
    models/backbone/pointnext.py       PointNextEncoder (stages, widths, radii),
                                       SetAbstraction, InvResMLP, LocalAggregation
    models/layers/group.py             QueryAndGroup (normalize_dp), GroupAll
    models/layers/conv.py              conv-norm-act blocks: no bias before a norm
    models/classification/cls_base.py  ClsHead (mlps 512-256, BatchNorm1d, dropout 0.5)

Stages (`strides`, `blocks`); the width doubles at every stride > 1:
  - first stage, stride 1: the stem, one 1x1 conv 3 -> width (bias, no norm, no ReLU).
  - stride s > 1: a residual set abstraction. N // s centres by farthest point sampling,
    ball query (`num_neighbours`, the stage radius), [offset / radius, neighbour feature]
    -> `sa_layers` convs (widths out/2 ... out; conv-BN-ReLU, the last without ReLU)
    -> max over neighbours; plus the centre's feature (1x1 conv with bias if the width
    changes) -> ReLU.
  - a later stride-1 stage: global set abstraction, [xyz, feature] of every point ->
    `sa_layers` convs of its width (conv-BN-ReLU) -> max over points. The global feature.
  - then `blocks - 1` InvResMLP blocks per stage: ball query around every point,
    [offset / radius, feature] -> conv-BN-ReLU -> max; conv-BN-ReLU to `expansion` x
    width, conv-BN back; plus the input -> ReLU.
The radius starts at `radius` and is multiplied by `radius_scaling` after each set
abstraction with stride > 1 (the InvResMLP blocks of that stage already use the scaled
one): 0.15, 0.225, 0.3375, 0.50625 for the four downsampling stages of PointNeXt-S.
Head: (Linear without bias, BN, ReLU, Dropout 0.5) for 512 and 256, then Linear to K.

Every value above was read from these files; farthest point sampling starts at point 0
as openpoints' kernel (cpp/pointnet2_batch/src/sampling_gpu.cu). PointNeXt-S on
ModelNet40 has blocks [1, 1, 1, 1, 1, 1], i.e. no InvResMLP block at all (the paper's
"B = 0"), so `expansion` only matters when `blocks` is overridden. `normalize_dp: True`
is the config at HEAD (its first version spelled it `normalize_xyz`, a key the grouper
does not read). With K = 40 the network has 1,373,512 parameters; the config's header
says 1.374 M (BatchNorm running statistics are not counted).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.models.pointnet import torch_dense
from dd3d_jax.models.layers import ClassifierHead
from dd3d_jax.models.pointnet2 import SharedMLP, sample_and_group
from dd3d_jax.ops.grouping import gather, group
from dd3d_jax.ops.neighbors import ball_query

Cloud = tuple[jax.Array, jax.Array]  # (points [B, N, 3], features [B, N, C])


def local_features(points: jax.Array, centres: jax.Array, neighbours: jax.Array,
                   features: jax.Array, radius: float) -> jax.Array:
  """[offset / radius, neighbour feature] of each neighbourhood (openpoints' 'dp_fj').

  points [B, N, 3], centres [B, S, 3], neighbours [B, S, K], features [B, N, C]
  -> [B, S, K, 3 + C].
  """
  offsets = group(points, centres, neighbours) / radius
  return jnp.concatenate([offsets, gather(features, neighbours)], axis=-1)


class Stem(nn.Module):
  """The first stage: a 1x1 convolution of the coordinates (no norm, no activation)."""
  width: int

  @nn.compact
  def __call__(self, cloud: Cloud, train: bool) -> Cloud:
    """(points [B, N, 3], _) -> (points, [B, N, width]) (`train` changes nothing)."""
    del train
    points, _ = cloud
    return points, torch_dense(self.width, points.shape[-1], 'conv')(points)


class SetAbstraction(nn.Module):
  """A downsampling set abstraction with a residual connection from the centres.

  Attributes:
    width: output channels.
    layers: convolutions (widths width // 2, ..., width).
    stride: keeps N // stride points (at least one) as centres.
    radius, num_neighbours: the ball query.
  """
  width: int
  layers: int
  stride: int
  radius: float
  num_neighbours: int

  @nn.compact
  def __call__(self, cloud: Cloud, train: bool) -> Cloud:
    """([B, N, 3], [B, N, C]) -> ([B, S, 3], [B, S, width])."""
    points, features = cloud
    num_centres = max(points.shape[1] // self.stride, 1)
    centre_idx, centres, neighbours = sample_and_group(points, num_centres, self.radius,
                                                       self.num_neighbours)
    x = local_features(points, centres, neighbours, features, self.radius)
    widths = (self.width // 2,) * (self.layers - 1) + (self.width,)
    x = SharedMLP(widths, bias=False, last_relu=False, name='mlp')(x, train).max(axis=-2)
    identity = gather(features, centre_idx)
    if identity.shape[-1] != self.width:
      identity = torch_dense(self.width, identity.shape[-1], 'skip')(identity)
    return centres, jax.nn.relu(x + identity)


class GlobalAbstraction(nn.Module):
  """Set abstraction of all points around the origin (absolute coordinates, no radius)."""
  width: int
  layers: int

  @nn.compact
  def __call__(self, cloud: Cloud, train: bool) -> Cloud:
    """([B, N, 3], [B, N, C]) -> (origin [B, 1, 3], [B, 1, width])."""
    points, features = cloud
    x = jnp.concatenate([points, features], axis=-1)
    x = SharedMLP((self.width,) * self.layers, bias=False, name='mlp')(x, train)
    return jnp.zeros_like(points[:, :1]), x.max(axis=-2, keepdims=True)


class InvResMLP(nn.Module):
  """Inverted residual MLP block: local aggregation, then a pointwise bottleneck."""
  radius: float
  num_neighbours: int
  expansion: int

  @nn.compact
  def __call__(self, cloud: Cloud, train: bool) -> Cloud:
    """([B, N, 3], [B, N, C]) -> ([B, N, 3], [B, N, C])."""
    points, features = cloud
    width = features.shape[-1]
    fixed = jax.lax.stop_gradient(points)
    neighbours = ball_query(fixed, fixed, self.radius, self.num_neighbours)
    x = local_features(points, points, neighbours, features, self.radius)
    x = SharedMLP((width,), bias=False, name='aggregation')(x, train).max(axis=-2)
    x = SharedMLP((width * self.expansion, width), bias=False, last_relu=False,
                  name='pointwise')(x, train)
    return points, jax.nn.relu(x + features)


class PointNeXtCls(nn.Module):
  """PointNeXt (PointNet++ with residual set abstractions and InvResMLP blocks).

  Attributes (the released ModelNet40 configuration of PointNeXt-S by default):
    num_classes: K.
    width: channels of the first stage.
    blocks: per stage, one set abstraction (or the stem) + blocks - 1 InvResMLP blocks.
    strides: per stage; see the module docstring. The last stage must have stride 1.
    radius, radius_scaling: the first ball radius and its growth per downsampling.
    num_neighbours: neighbours of every ball query.
    sa_layers: convolutions per set abstraction.
    expansion: channel expansion inside an InvResMLP block.
    head: hidden widths of the classifier.
    dropout: drop rate of the classifier.
  """
  num_classes: int
  width: int = 32
  blocks: tuple[int, ...] = (1, 1, 1, 1, 1, 1)
  strides: tuple[int, ...] = (1, 2, 2, 2, 2, 1)
  radius: float = 0.15
  radius_scaling: float = 1.5
  num_neighbours: int = 32
  sa_layers: int = 2
  expansion: int = 4
  head: tuple[int, ...] = (512, 256)
  dropout: float = 0.5

  def setup(self):
    stages, width, radius = [], self.width, self.radius
    for i, (stride, blocks) in enumerate(zip(self.strides, self.blocks)):
      if i == 0 and stride == 1:
        stages.append(Stem(width, name='stem'))
      elif stride == 1:
        stages.append(GlobalAbstraction(width, self.sa_layers, name=f'sa{i}'))
      else:
        width *= 2
        stages.append(SetAbstraction(width, self.sa_layers, stride, radius, self.num_neighbours,
                                     name=f'sa{i}'))
        radius *= self.radius_scaling
      stages += [InvResMLP(radius, self.num_neighbours, self.expansion, name=f'block{i}_{j}')
                 for j in range(1, blocks)]
    self.stages = stages
    self.classifier = ClassifierHead(self.num_classes, self.head, self.dropout, bias=False)

  def embed(self, points: jax.Array, train: bool = False) -> jax.Array:
    """The global feature. points: [B, N, 3] -> [B, F] (512 at full size)."""
    cloud = (points, points)
    for stage in self.stages:
      cloud = stage(cloud, train)
    return jnp.squeeze(cloud[1], axis=1)  # the last stage leaves one point

  def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
    """Class logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.classifier(self.embed(points, train), train)


def make(num_classes: int, **overrides) -> nn.Module:
  """The network of `model.arch = 'pointnext'`; `overrides` replace PointNeXtCls fields."""
  return PointNeXtCls(num_classes=num_classes, **overrides)
