"""Layers shared by the evaluation backbones, initialised and normalised as PyTorch.

Points are [B, N, C] rows (or [B, S, K, C] neighbourhoods), so a 1x1 convolution is a
Dense layer over the last axis and BatchNorm normalises every axis but the channels
(BatchNorm1d/2d on NCHW). Initialisation is PyTorch's default: U(+-1/sqrt(fan_in))
for kernels and biases, BatchNorm scale 1 and bias 0.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax

from dd3d_jax.initializers import torch_default
from dd3d_jax.models.pointnet import torch_dense


def batch_norm(train: bool, name: str) -> nn.BatchNorm:
  """PyTorch's BatchNorm (momentum 0.1, eps 1e-5) over every axis but the last; running
  statistics in the 'batch_stats' collection, updated in training mode."""
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


def dense(features: int, fan_in: int, name: str, bias: bool = True) -> nn.Dense:
  """`torch_dense`, or its kernel alone when `bias` is False (a layer before BatchNorm)."""
  if bias:
    return torch_dense(features, fan_in, name)
  return nn.Dense(features, use_bias=False, kernel_init=torch_default(fan_in), name=name)


def leaky_relu(x: jax.Array) -> jax.Array:
  """LeakyReLU with negative slope 0.2 (DGCNN, PCT)."""
  return jax.nn.leaky_relu(x, 0.2)


class ConvBN(nn.Module):
  """A 1x1 convolution (bias-free by default), then BatchNorm; no activation."""
  features: int
  bias: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [..., C] -> [..., features]."""
    return batch_norm(train, 'bn')(dense(self.features, x.shape[-1], 'conv', self.bias)(x))


class ClassifierHead(nn.Module):
  """(Linear, BatchNorm, activation, Dropout) per hidden width, then Linear to the logits.

  Attributes:
    num_classes: K.
    widths: hidden widths (512, 256 in every backbone here).
    dropout: drop rate after each hidden layer, in training when a 'dropout' rng is given
      (without one, as gradient matching applies a network, nothing is dropped).
    bias: whether each hidden Linear has a bias (one bool for all, or one per width);
      the last Linear always has one.
    activation: after each BatchNorm.
  """
  num_classes: int
  widths: tuple[int, ...] = (512, 256)
  dropout: float = 0.5
  bias: bool | tuple[bool, ...] = True
  activation: Callable[[jax.Array], jax.Array] = jax.nn.relu

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, F] -> [B, num_classes]."""
    biases = self.bias if isinstance(self.bias, tuple) else (self.bias,) * len(self.widths)
    for i, (width, bias) in enumerate(zip(self.widths, biases)):
      x = self.activation(batch_norm(train, f'bn{i}')(dense(width, x.shape[-1], f'fc{i}', bias)(x)))
      x = nn.Dropout(self.dropout, deterministic=not (train and self.has_rng('dropout')))(x)
    return torch_dense(self.num_classes, x.shape[-1], f'fc{len(self.widths)}')(x)
