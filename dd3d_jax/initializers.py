"""Parameter initialisers that reproduce the reference (PyTorch) initialisation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def uniform(bound: float):
  """Flax initializer drawing U(-bound, bound), for kernels and biases alike."""
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def torch_default(fan_in: int):
  """PyTorch's default Linear/Conv init for weight and bias: U(+-1/sqrt(fan_in))."""
  return uniform(1 / math.sqrt(fan_in))
