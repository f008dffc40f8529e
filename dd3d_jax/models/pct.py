"""PCT (Guo et al. 2021), the classification network with neighbour embedding, xyz input.

Follows `model.py` (class Pct, Local_op, Point_Transformer_Last, SA_Layer) and
`util.py` (sample_and_group, knn_point) of Strawberry-Eat-Mango/PCT_Pytorch; the
authors' Jittor code, `networks/cls/pct.py` (Point_Transformer2) of MenghaoGuo/PCT, has
the same layers but ReLU instead of LeakyReLU in the head:

  input embedding: per point, two bias-free 1x1 convs 3->64->64, each BN + ReLU;
  two sample-and-group stages (512 then 256 centres, 32 neighbours): farthest point
      sampling, kNN in xyz around each centre, features [f_j - f_centre, f_centre]
      (2x wide; the xyz offsets are not used), then Local_op: two bias-free 1x1 convs
      keeping that width, each BN + ReLU, max over the neighbours: 64 -> 128 -> 256;
  two bias-free 1x1 convs 256->256, each BN + ReLU, then 4 offset-attention layers of
      width 256, their outputs concatenated (1,024) with the stage-2 features (256);
  bias-free 1x1 conv 1280->1024, BN, LeakyReLU 0.2, max over points: the 1,024-d
      global feature (`embed`);
  head (DGCNN's): Linear 1024->512 (no bias), BN, LeakyReLU 0.2, dropout 0.5,
      Linear 512->256, BN, LeakyReLU 0.2, dropout 0.5, Linear 256->K.

The released code max-pools only (the paper's MA-pool would concatenate the mean,
doubling the global feature); with max only the parameter count is the published
2.88 M. In offset attention, queries and keys share one bias-free projection (the
reference ties q_conv.weight to k_conv.weight). Conventions (1x1 conv = Dense,
BatchNorm axes, PyTorch-default initialisation) are those of `dd3d_jax.models.dgcnn`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.models.layers import ClassifierHead, ConvBN, batch_norm, dense, leaky_relu
from dd3d_jax.ops.grouping import gather
from dd3d_jax.ops.neighbors import knn
from dd3d_jax.ops.sampling import farthest_point_sampling


def sample_and_group(xyz: jax.Array, features: jax.Array, num_centres: int,
                     num_neighbours: int) -> tuple[jax.Array, jax.Array]:
  """PCT's grouping: FPS centres, their kNN in xyz, features relative to the centre's.

  Args:
    xyz: [B, N, 3] positions; features: [B, N, D].
    num_centres: S; num_neighbours: K (static).
  Returns:
    centres [B, S, 3], and grouped features [B, S, K, 2D]: [f_j - f_centre, f_centre].
  """
  xyz = jax.lax.stop_gradient(xyz)  # only indices come from positions
  centre_idx = farthest_point_sampling(xyz, num_centres)                   # [B, S]
  centres = gather(xyz, centre_idx)
  idx = knn(centres, xyz, num_neighbours)                                  # [B, S, K]
  centre_features = jnp.broadcast_to(gather(features, centre_idx)[:, :, None, :],
                                     (*idx.shape, features.shape[-1]))
  grouped = gather(features, idx) - centre_features
  return centres, jnp.concatenate([grouped, centre_features], axis=-1)


class LocalOp(nn.Module):
  """Two (bias-free 1x1 conv, BN, ReLU) keeping the input width, max over neighbours."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, S, K, C] -> [B, S, C]."""
    width = x.shape[-1]
    x = jax.nn.relu(ConvBN(width, name='conv1')(x, train))
    x = jax.nn.relu(ConvBN(width, name='conv2')(x, train))
    return x.max(axis=-2)


class OffsetAttention(nn.Module):
  """PCT's offset-attention layer (SA_Layer) over all points of the cloud.

  Attention is softmax over keys, then each key's column renormalised over the
  queries; the offset x - attended goes through a 1x1 conv, BN and ReLU and is
  added back to x.
  """

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, N, C] -> [B, N, C]."""
    width = x.shape[-1]
    qk = dense(width // 4, width, 'qk_conv', bias=False)(x)               # [B, N, C/4]
    values = dense(width, width, 'v_conv')(x)
    energy = jnp.einsum('bnd,bmd->bnm', qk, qk)                           # [query, key]
    attention = jax.nn.softmax(energy, axis=-1)
    attention = attention / (1e-9 + attention.sum(axis=-2, keepdims=True))
    attended = jnp.einsum('bnm,bnc->bmc', attention, values)
    offset = dense(width, width, 'trans_conv')(x - attended)
    return x + jax.nn.relu(batch_norm(train, 'after_norm')(offset))


class PCT(nn.Module):
  """PCT for classification; the defaults are the paper's configuration.

  Attributes:
    num_classes: K.
    centres: centres of each sample-and-group stage.
    neighbours: neighbours of each centre (kNN in xyz).
    width: input-embedding width; each stage doubles it (64 -> 128 -> 256), and the
      attention layers keep the last stage's width.
    attention_layers: number of offset-attention layers.
    emb_dims: width of the global feature.
    head_widths: hidden widths of the classifier.
    dropout: dropout rate of the classifier.
  """
  num_classes: int
  centres: tuple[int, ...] = (512, 256)
  neighbours: int = 32
  width: int = 64
  attention_layers: int = 4
  emb_dims: int = 1024
  head_widths: tuple[int, int] = (512, 256)
  dropout: float = 0.5

  def setup(self):
    stage_width = self.width * 2 ** len(self.centres)
    self.embedding = [ConvBN(self.width), ConvBN(self.width)]
    self.local_ops = [LocalOp() for _ in self.centres]
    self.pre_attention = [ConvBN(stage_width), ConvBN(stage_width)]
    self.attention = [OffsetAttention() for _ in range(self.attention_layers)]
    self.conv_fuse = ConvBN(self.emb_dims)
    self.head = ClassifierHead(self.num_classes, self.head_widths, self.dropout,
                               bias=(False, True), activation=leaky_relu)

  def embed(self, points: jax.Array, train: bool = False) -> jax.Array:
    """The global feature. points: [B, N, 3] -> [B, emb_dims]."""
    x = points
    for conv in self.embedding:
      x = jax.nn.relu(conv(x, train))
    xyz = points
    for num_centres, local_op in zip(self.centres, self.local_ops):
      xyz, grouped = sample_and_group(xyz, x, num_centres, self.neighbours)
      x = local_op(grouped, train)                                        # [B, S, C]
    local = x
    for conv in self.pre_attention:
      x = jax.nn.relu(conv(x, train))
    levels = []
    for layer in self.attention:
      x = layer(x, train)
      levels.append(x)
    x = leaky_relu(self.conv_fuse(jnp.concatenate([*levels, local], axis=-1), train))
    return x.max(axis=-2)

  def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
    """Class logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.head(self.embed(points, train), train)


def make(num_classes: int, **overrides) -> nn.Module:
  """The network of `model.arch = 'pct'`; `overrides` replace fields of `PCT`."""
  return PCT(num_classes=num_classes, **overrides)
