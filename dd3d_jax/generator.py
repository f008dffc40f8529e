"""The point-wise generator: a class-modulated SIREN that maps noise to points.

The synthetic set is not a tensor but this network: row `i` of an embedding table
(one row per synthetic cloud, `num_classes * cpc` rows, class-major so cloud `i`
has class `i // cpc`) modulates the amplitude of every sine layer, and each
uniform noise value u in [0, 1) becomes one 3-D point. The number of points per
cloud is whatever the noise has, so a generator distilled at 256 points can emit
1,024 or 2,048.

    m_1 = relu(emb[i]);  m_{l+1} = relu(W'_l m_l + b'_l)
    h_1 = sin(w0_initial * (W_1 u + b_1)) * m_1
    h_l = sin(w0 * (W_l h_{l-1} + b_l)) * m_l          l = 2..num_layers
    x   = tanh(W_out h_L)                              (no bias)

Initialisation (the authors' CINR.py): first sine layer W, b ~ U(-1/fan_in,
1/fan_in); later sine layers and the output layer U(-sqrt(6/fan_in)/w0, +...);
embedding N(0, 1); modulation Linear layers PyTorch's default U(+-1/sqrt(fan_in)).
The code modulates amplitude; the paper's eq. 12 speaks of frequency and phase.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.initializers import torch_default, uniform

Params = Any


class ModulatedSiren(nn.Module):
  """Class-modulated SIREN generator.

  The module maps noise and latent codes (rows of the embedding table) to points;
  the table itself is the 'embedding' entry of the generator's parameter pytree,
  handled by `init_params` and `generate`. Splitting the lookup out lets a caller
  differentiate one class's rows without materialising a full-table gradient.

  Attributes:
    num_classes: K.
    cpc: synthetic clouds per class; the embedding has K * cpc rows.
    w0_initial: frequency of the first sine layer (ModelNet40 100, ScanObjectNN 50,
      MVPNet 100, ShapeNet 400).
    hidden: width of the sine and modulation layers (256).
    num_layers: number of sine layers (2).
    w0: frequency of the later sine layers (1).
    out_dim: coordinates per point (3).
    noise_dim: noise values per point (the paper's 1: a cloud is the image of a segment,
      a curve through space; 2 makes it the image of a square, a surface; the first
      value is the one that labels parts).
  """
  num_classes: int
  cpc: int
  w0_initial: float
  hidden: int = 256
  num_layers: int = 2
  w0: float = 1.0
  out_dim: int = 3
  noise_dim: int = 1

  @nn.compact
  def __call__(self, noise: jax.Array, latents: jax.Array) -> jax.Array:
    """Generates clouds from latent codes.

    Args:
      noise: [B, N, noise_dim] values in [0, 1).
      latents: [B, hidden] embedding rows of the clouds to generate, or [B, N, hidden]
        one per point (a part-conditioned set, `synthetic.PartSirenSet`).
    Returns:
      [B, N, out_dim] points in (-1, 1).
    """
    mod = jax.nn.relu(latents)
    mods = [mod]
    for l in range(self.num_layers - 1):
      init = torch_default(self.hidden)
      mod = jax.nn.relu(nn.Dense(self.hidden, kernel_init=init, bias_init=init,
                                 name=f'mod_{l}')(mod))
      mods.append(mod)

    if mod.ndim == 2:  # one code per cloud: the same modulation for each of its points
      mods = [m[:, None, :] for m in mods]
    h = noise
    for l in range(self.num_layers):
      fan_in = h.shape[-1]
      w0 = self.w0_initial if l == 0 else self.w0
      bound = 1 / fan_in if l == 0 else math.sqrt(6 / fan_in) / w0
      # The first layer feeds sin(w0_initial * .) with w0_initial up to 400: keep it
      # in full float32 on accelerators whose default matmul precision is lower.
      precision = jax.lax.Precision.HIGHEST if l == 0 else None
      dense = nn.Dense(self.hidden, kernel_init=uniform(bound),
                       bias_init=uniform(bound), precision=precision, name=f'sine_{l}')
      h = jnp.sin(w0 * dense(h)) * mods[l]

    bound = math.sqrt(6 / self.hidden) / self.w0
    out = nn.Dense(self.out_dim, use_bias=False, kernel_init=uniform(bound), name='out')(h)
    return jnp.tanh(out)


def init_params(module: ModulatedSiren, key: jax.Array) -> Params:
  """Fresh generator parameters with the reference initialisation.

  Returns:
    {'embedding': [K * cpc, hidden] ~ N(0, 1), 'mod_*', 'sine_*', 'out': layer params}.
  """
  k_emb, k_net = jax.random.split(key)
  latents = jnp.zeros((1, module.hidden), jnp.float32)
  params = module.init(k_net, jnp.zeros((1, 1, module.noise_dim), jnp.float32),
                       latents)['params']
  embedding = jax.random.normal(k_emb, (module.num_classes * module.cpc, module.hidden))
  return {'embedding': embedding, **params}


def generate_from_latents(module: ModulatedSiren, params: Params, noise: jax.Array,
                          latents: jax.Array) -> jax.Array:
  """Generator apply on explicit latent codes. noise: [B, N, noise_dim]; latents: [B, H]."""
  layers = {name: p for name, p in params.items() if name != 'embedding'}
  return module.apply({'params': layers}, noise, latents)


def generate(module: ModulatedSiren, params: Params, noise: jax.Array,
             indices: jax.Array) -> jax.Array:
  """Pure generator apply. noise: [B, N, noise_dim]; indices: [B] rows -> points [B, N, 3]."""
  return generate_from_latents(module, params, noise, params['embedding'][indices])


def synthetic_labels(num_classes: int, cpc: int) -> jax.Array:
  """Class of each synthetic cloud, class-major: [K * cpc] int32 (0,0,..,1,1,..)."""
  return jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), cpc)


def sample_noise(key: jax.Array, batch: int, num_points: int, dim: int = 1) -> jax.Array:
  """Uniform noise U[0, 1) for the generator: [batch, num_points, dim] float32 (dim 1:
  the paper's; a `synthetic` set's `noise_dim`)."""
  return jax.random.uniform(key, (batch, num_points, dim), jnp.float32)


def part_labels(noise: jax.Array, proportions: jax.Array) -> jax.Array:
  """Turns noise into part labels: (0, 1] is cut into pieces of the given lengths.

  A point with noise u gets part k when `c_{k-1} < u <= c_k`, with c the
  cumulative proportions; so the expected share of part k is `proportions[k]`.
  Rows may be zero-padded (classes with fewer parts); padded parts are never
  chosen, and rounding at the top end falls into the last real part.

  Args:
    noise: [..., N, 1] or [..., N] values in [0, 1).
    proportions: [..., P] non-negative, each row summing to ~1 (broadcast against
      the leading axes of `noise`).
  Returns:
    [..., N] int32 part index within the cloud's class, in [0, P).
  """
  if noise.ndim == proportions.ndim + 1 and noise.shape[-1] == 1:
    noise = noise[..., 0]
  proportions = jnp.asarray(proportions, jnp.float32)
  cum = jnp.cumsum(proportions, axis=-1)[..., None, :]  # [..., 1, P]
  label = (noise[..., None] > cum).sum(axis=-1)
  num_parts = proportions.shape[-1]
  last = num_parts - 1 - jnp.argmax((proportions > 0)[..., ::-1], axis=-1)
  return jnp.minimum(label, last[..., None]).astype(jnp.int32)
