"""DGCNN (Wang et al. 2019), the classification network on xyz input.

Follows `pytorch/model.py` of WangYueFt/dgcnn (class DGCNN, emb_dims 1024, k 20):

  4 EdgeConvs, widths 64, 64, 128, 256: kNN (k = 20, the point itself included)
      recomputed in the input's feature space, edge features [x_j - x_i, x_i],
      a bias-free 1x1 conv, BatchNorm, LeakyReLU 0.2, max over the k neighbours;
  concat (512) -> bias-free 1x1 conv to 1,024, BatchNorm, LeakyReLU 0.2;
  [max, mean] over points: the 2,048-d global feature (`embed`);
  head: Linear 2048->512 (no bias), BN, LeakyReLU, dropout 0.5,
        Linear 512->256 (with bias), BN, LeakyReLU, dropout 0.5, Linear 256->K.

Points are [B, N, 3] rows, so a 1x1 convolution is a Dense layer over the last axis
and BatchNorm normalises every axis but the channels (as BatchNorm1d/2d on NCHW).
Initialisation is PyTorch's default (U(+-1/sqrt(fan_in)); BatchNorm scale 1, bias 0).
Running variances use the biased estimate (PyTorch's use the unbiased one).
PCT's released code reuses this head.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.models.layers import ClassifierHead, ConvBN, leaky_relu
from dd3d_jax.ops.grouping import gather
from dd3d_jax.ops.neighbors import knn


class EdgeConv(nn.Module):
  """One EdgeConv on the kNN graph of its input features (the graph is recomputed)."""
  features: int
  k: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, N, C] -> [B, N, features]."""
    idx = knn(jax.lax.stop_gradient(x), jax.lax.stop_gradient(x), self.k)  # [B, N, k]
    centre = jnp.broadcast_to(x[:, :, None, :], (*idx.shape, x.shape[-1]))
    edges = jnp.concatenate([gather(x, idx) - centre, centre], axis=-1)      # [B, N, k, 2C]
    return leaky_relu(ConvBN(self.features, name='conv')(edges, train)).max(axis=-2)


class DGCNN(nn.Module):
  """DGCNN for classification; the defaults are the paper's configuration.

  Attributes:
    num_classes: K.
    k: neighbours of each point in every EdgeConv.
    edge_widths: output widths of the EdgeConvs.
    emb_dims: width of the point features before pooling (the global feature is 2x).
    head_widths: hidden widths of the classifier.
    dropout: dropout rate of the classifier.
  """
  num_classes: int
  k: int = 20
  edge_widths: tuple[int, ...] = (64, 64, 128, 256)
  emb_dims: int = 1024
  head_widths: tuple[int, int] = (512, 256)
  dropout: float = 0.5

  def setup(self):
    self.edge_convs = [EdgeConv(width, self.k) for width in self.edge_widths]
    self.conv5 = ConvBN(self.emb_dims)
    self.head = ClassifierHead(self.num_classes, self.head_widths, self.dropout,
                               bias=(False, True), activation=leaky_relu)

  def embed(self, points: jax.Array, train: bool = False) -> jax.Array:
    """The global feature [max, mean]. points: [B, N, 3] -> [B, 2 * emb_dims]."""
    x, levels = points, []
    for edge_conv in self.edge_convs:
      x = edge_conv(x, train)
      levels.append(x)
    x = leaky_relu(self.conv5(jnp.concatenate(levels, axis=-1), train))  # [B, N, emb_dims]
    return jnp.concatenate([x.max(axis=-2), x.mean(axis=-2)], axis=-1)

  def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
    """Class logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.head(self.embed(points, train), train)


def make(num_classes: int, **overrides) -> nn.Module:
  """The network of `model.arch = 'dgcnn'`; `overrides` replace fields of `DGCNN`."""
  return DGCNN(num_classes=num_classes, **overrides)
