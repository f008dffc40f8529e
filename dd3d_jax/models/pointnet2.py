"""PointNet++ SSG classification network (Qi et al. 2017b), xyz input only.

Followed, layer by layer:
  charlesq34/pointnet2 (the authors' TensorFlow code, commit 4292663):
    models/pointnet2_cls_ssg.py    the three set abstractions and the 512-256-K head
    utils/pointnet_util.py         sample_and_group, sample_and_group_all, pointnet_sa_module
    utils/tf_util.py               conv2d / fully_connected: bias, then BatchNorm, then ReLU
  yanx27/Pointnet_Pointnet2_pytorch (a PyTorch port with the same layers):
    models/pointnet2_cls_ssg.py, models/pointnet2_utils.py

Set abstraction: S centres by farthest point sampling, the first K points (in index
order) within radius r of each, [neighbour - centre, neighbour feature] per neighbour,
a shared MLP (1x1 conv + BatchNorm + ReLU per layer) and a max over the K neighbours.
The last one groups every remaining point around the origin, so its inputs are the
absolute coordinates and the features. Head: Linear-BN-ReLU-Dropout twice, then Linear.

Where the two references differ, this follows the authors' code: dropout 0.5 (the
port uses 0.4) and FPS starting at point 0 (the port starts at a random point).
With K = 40 the network has 1,475,688 parameters, as both references (the ~1.48 M
usually quoted); BatchNorm running statistics are not counted.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.models.layers import ClassifierHead, batch_norm, dense
from dd3d_jax.ops.grouping import gather, group
from dd3d_jax.ops.neighbors import ball_query
from dd3d_jax.ops.sampling import farthest_point_sampling


def sample_and_group(points: jax.Array, num_centres: int, radius: float,
                     num_neighbours: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Farthest-point centres and their ball-query neighbourhoods.

  The selections are made on constant coordinates; gradients flow through the points
  the caller gathers with the returned indices.

  Args:
    points: [B, N, 3].
  Returns:
    centre indices [B, S] int32, centres [B, S, 3], neighbour indices [B, S, K] int32.
  """
  fixed = jax.lax.stop_gradient(points)
  centre_idx = farthest_point_sampling(fixed, num_centres)
  neighbours = ball_query(gather(fixed, centre_idx), fixed, radius, num_neighbours)
  return centre_idx, gather(points, centre_idx), neighbours


class SharedMLP(nn.Module):
  """1x1 convolutions over the last axis, each followed by BatchNorm and ReLU.

  Attributes:
    widths: output channels of each layer.
    bias: whether the convolutions have a bias (PointNet++ yes, PointNeXt no).
    last_relu: False leaves the last layer without ReLU (before a residual sum).
  """
  widths: tuple[int, ...]
  bias: bool = True
  last_relu: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [..., C] -> [..., widths[-1]]."""
    for i, width in enumerate(self.widths):
      x = batch_norm(train, f'bn{i}')(dense(width, x.shape[-1], f'conv{i}', self.bias)(x))
      if self.last_relu or i < len(self.widths) - 1:
        x = jax.nn.relu(x)
    return x


class PointNet2Cls(nn.Module):
  """PointNet++ with single-scale grouping, for classification.

  Attributes:
    num_classes: K.
    centres, radii, neighbours: S, r and K of each sampled set abstraction.
    mlps: the shared MLP widths of each set abstraction, then of the group-all one.
    head: hidden widths of the classifier.
    dropout: drop rate of the classifier.
  """
  num_classes: int
  centres: tuple[int, ...] = (512, 128)
  radii: tuple[float, ...] = (0.2, 0.4)
  neighbours: tuple[int, ...] = (32, 64)
  mlps: tuple[tuple[int, ...], ...] = ((64, 64, 128), (128, 128, 256), (256, 512, 1024))
  head: tuple[int, ...] = (512, 256)
  dropout: float = 0.5

  def setup(self):
    self.set_abstractions = [SharedMLP(widths, name=f'sa{i + 1}')
                             for i, widths in enumerate(self.mlps)]
    self.classifier = ClassifierHead(self.num_classes, self.head, self.dropout)

  def embed(self, points: jax.Array, train: bool = False) -> jax.Array:
    """The global feature. points: [B, N, 3] -> [B, mlps[-1][-1]] (1,024 at full size)."""
    xyz, features = points, None
    for mlp, num_centres, radius, num_neighbours in zip(
        self.set_abstractions, self.centres, self.radii, self.neighbours):
      _, centres, neighbours = sample_and_group(xyz, num_centres, radius, num_neighbours)
      grouped = group(xyz, centres, neighbours, features)            # [B, S, K, 3 (+C)]
      xyz, features = centres, mlp(grouped, train).max(axis=-2)       # [B, S, 3], [B, S, C']
    return self.set_abstractions[-1](jnp.concatenate([xyz, features], axis=-1),
                                     train).max(axis=-2)

  def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
    """Class logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.classifier(self.embed(points, train), train)


def make(num_classes: int, **overrides) -> nn.Module:
  """The network of `model.arch = 'pointnet2'`; `overrides` replace PointNet2Cls fields."""
  return PointNet2Cls(num_classes=num_classes, **overrides)
