"""Distribution matching (DM, Zhao & Bilen 2023): the mean feature of a real batch
against that of the synthetic clouds of one class, under an untrained network and one
augmentation drawn for both:

    loss_c = || sum_i w_i f(aug(real_ci)) - mean_j f(aug(syn_cj)) ||^2

With `layers`, the distance is summed over every stage's mean feature too
(`Network.embed_stages`), not only the global one. (`methods.dm` trains a tensor by it,
`methods.dd3d` with `objective='dm'` the generator.)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from dd3d_jax import geometry
from dd3d_jax.models import Network


def mean_feature_distance(real_features: jax.Array, real_weights: jax.Array,
                          syn_features: jax.Array) -> jax.Array:
  """`|| sum_i w_i real_i - mean_j syn_j ||^2`.

  Args:
    real_features: [B, F]; real_weights: [B], summing to 1 (0 masks padding).
    syn_features: [C, F].
  Returns:
    Scalar.
  """
  return jnp.sum(jnp.square(real_weights @ real_features - syn_features.mean(axis=0)))


def class_loss(network: Network, net_vars: Any, real: jax.Array, weights: jax.Array,
               syn: jax.Array, key: jax.Array | None, layers: bool = False,
               **extra) -> jax.Array:
  """DM loss of one class; `key` None: no augmentation, else `geometry.augment_together`
  with its `extra` options (`up`, `dropout`); `layers`: summed over every stage's features
  too. real: [B, N, 3]; syn: [C, N', 3]."""
  if key is not None:
    real, syn = geometry.augment_together(key, real, syn, **extra)
  if not layers:
    return mean_feature_distance(network.embed(net_vars, real, train=True), weights,
                                 network.embed(net_vars, syn, train=True))
  return sum(mean_feature_distance(r, weights, s) for r, s in zip(
      network.embed_stages(net_vars, real, train=True),
      network.embed_stages(net_vars, syn, train=True)))
