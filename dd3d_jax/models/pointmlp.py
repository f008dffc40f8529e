"""PointMLP-elite (Ma et al. 2022): residual MLPs on geometric-affine kNN groups, xyz input.

Follows `classification_ModelNet40/models/pointmlp.py` of ma-xu/pointMLP-pytorch at its
last change (commit abc9176, "fix the std bug"): `pointMLPElite`, i.e. class `Model`
with embed_dim 32, groups 1, res_expansion 0.25, ReLU, bias False, use_xyz False,
normalize 'anchor', dim_expansion [2, 2, 2, 1], pre_blocks [1, 1, 2, 1], pos_blocks
[1, 1, 2, 1], k_neighbors 24, 1024 points halved at every stage.

  embedding      1x1 conv 3 -> 32, BN, ReLU, per point
  4 stages       widths 64, 128, 256, 256; on (xyz [B, N, 3], features [B, N, C]):
    grouping     (`LocalGrouper`) S anchors by FPS (512, 256, 128, 64), their 24 nearest
                 points in xyz; neighbour features f_j, anchor feature f_a:
                 f_j <- alpha * (f_j - f_a) / (sigma + 1e-5) + beta, sigma the std of all
                 f_j - f_a of the cloud (one scalar per cloud); then [f_j, f_a] (2C)
    pre          (`PreExtraction`) conv 2C -> C', BN, ReLU; residual blocks; max over k
    pos          (`PosExtraction`) residual blocks on the S anchors
  max over the anchors -> the 256-d global feature
  head           Linear 512, BN, ReLU, dropout 0.5, Linear 256, BN, ReLU, dropout 0.5, Linear K

A residual block (`ConvBNReLURes1D`, groups 1) is relu(BN(conv(relu(BN(conv(x))))) + x)
with hidden width int(C * res_expansion). Convolutions have no bias; head Linears do.
716,232 parameters for 40 classes (the paper's Table 1 says 0.68M; see the tests).

Differences from the reference: none in the layers. FPS starts at point 0, as its CUDA
kernel does; with fewer points than neighbours, kNN repeats the anchor itself (the
reference's `topk` fails). The version before the fix (commit 404c207) took sigma over
the whole batch, so a cloud's test logits depended on the rest of its batch.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.models.layers import ClassifierHead, ConvBN
from dd3d_jax.ops.grouping import gather
from dd3d_jax.ops.neighbors import knn
from dd3d_jax.ops.sampling import farthest_point_sampling


def normalise_by_anchor(grouped: jax.Array, anchor: jax.Array, eps: float = 1e-5) -> jax.Array:
  """Neighbour features relative to their anchor, over one scale per cloud.

  Args:
    grouped: [B, S, k, C] neighbour features; anchor: [B, S, C] anchor features.
  Returns:
    [B, S, k, C]: (grouped - anchor) / (sigma + eps), sigma [B] the unbiased std of
    each cloud's S * k * C offsets (`torch.std` of the offsets reshaped to [B, -1]).
  """
  offsets = grouped - anchor[:, :, None, :]
  sigma = jnp.std(offsets, axis=(1, 2, 3), ddof=1, keepdims=True)
  return offsets / (sigma + eps)


class ResBlock(nn.Module):
  """`ConvBNReLURes1D`: relu(BN(conv(relu(BN(conv(x))))) + x), hidden int(C * expansion)."""
  expansion: float

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [..., C] -> [..., C]."""
    channels = x.shape[-1]
    h = jax.nn.relu(ConvBN(int(channels * self.expansion), name='net1')(x, train))
    return jax.nn.relu(ConvBN(channels, name='net2')(h, train) + x)


class Stage(nn.Module):
  """One stage: geometric-affine kNN grouping, pre-extraction, max over k, pos-extraction."""
  anchors: int
  neighbours: int
  features: int
  pre_blocks: int
  pos_blocks: int
  expansion: float

  @nn.compact
  def __call__(self, xyz: jax.Array, x: jax.Array,
               train: bool) -> tuple[jax.Array, jax.Array]:
    """xyz [B, N, 3], x [B, N, C] -> anchors' xyz [B, S, 3] and features [B, S, features]."""
    channels = x.shape[-1]
    fixed_xyz = jax.lax.stop_gradient(xyz)
    centre_idx = farthest_point_sampling(fixed_xyz, self.anchors)           # [B, S]
    neighbour_idx = knn(gather(fixed_xyz, centre_idx), fixed_xyz, self.neighbours)  # [B, S, k]
    anchor = gather(x, centre_idx)                                          # [B, S, C]
    alpha = self.param('affine_alpha', nn.initializers.ones, (channels,))
    beta = self.param('affine_beta', nn.initializers.zeros, (channels,))
    grouped = alpha * normalise_by_anchor(gather(x, neighbour_idx), anchor) + beta
    x = jnp.concatenate([grouped, jnp.broadcast_to(anchor[:, :, None, :], grouped.shape)],
                        axis=-1)                                            # [B, S, k, 2C]
    x = jax.nn.relu(ConvBN(self.features, name='transfer')(x, train))
    for i in range(self.pre_blocks):
      x = ResBlock(self.expansion, name=f'pre{i}')(x, train)
    x = x.max(axis=-2)                                                      # [B, S, C']
    for i in range(self.pos_blocks):
      x = ResBlock(self.expansion, name=f'pos{i}')(x, train)
    return gather(xyz, centre_idx), x


class PointMLP(nn.Module):
  """PointMLP classifier; defaults are the released elite configuration.

  Per-stage tuples have one entry per stage; stage i has width
  embed_dim * prod(dim_expansion[:i + 1]). `anchors` is the reference's 1024 points
  divided by its reducers (2 per stage).
  """
  num_classes: int
  embed_dim: int = 32
  anchors: tuple[int, ...] = (512, 256, 128, 64)
  neighbours: tuple[int, ...] = (24, 24, 24, 24)
  dim_expansion: tuple[int, ...] = (2, 2, 2, 1)
  pre_blocks: tuple[int, ...] = (1, 1, 2, 1)
  pos_blocks: tuple[int, ...] = (1, 1, 2, 1)
  res_expansion: float = 0.25
  head_widths: tuple[int, ...] = (512, 256)
  dropout: float = 0.5

  def setup(self):
    per_stage = (self.anchors, self.neighbours, self.dim_expansion, self.pre_blocks,
                 self.pos_blocks)
    if len({len(t) for t in per_stage}) != 1:
      raise ValueError(f'PointMLP: anchors, neighbours, dim_expansion, pre_blocks and '
                       f'pos_blocks need one entry per stage; got {per_stage}.')
    self.embedding = ConvBN(self.embed_dim)
    stages, width = [], self.embed_dim
    for anchors, k, expand, pre, pos in zip(*per_stage):
      width *= expand
      stages.append(Stage(anchors, k, width, pre, pos, self.res_expansion))
    self.stages = stages
    self.head = ClassifierHead(self.num_classes, self.head_widths, self.dropout)

  def embed(self, points: jax.Array, train: bool = False) -> jax.Array:
    """The global feature. points: [B, N, 3] -> [B, embed_dim * prod(dim_expansion)]."""
    xyz, x = points, jax.nn.relu(self.embedding(points, train))
    for stage in self.stages:
      xyz, x = stage(xyz, x, train)
    return x.max(axis=-2)

  def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
    """Class logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.head(self.embed(points, train), train)


def make(num_classes: int, **overrides) -> nn.Module:
  """The network of `model.arch = 'pointmlp'`: PointMLP-elite; `overrides` replace fields."""
  return PointMLP(num_classes=num_classes, **overrides)
