"""Sign canonicalisation ("rotator"): removes PCA's 8-fold axis-sign ambiguity.

After PCA each axis of a cloud is known only up to sign. A rotator computes, per
cloud and axis j, an odd statistic `f_j(x) = -f_j(-x)` of the coordinates and
multiplies the axis by `sign(f_j)`; flipping an axis flips `f_j`, so the output
is the same for all 8 sign patterns.

Two rotators, each an `init(key) -> params` / `apply(params, points) -> points`
pair of pure functions on a frozen (hashable, jit-static) dataclass:

- `SignRotator` (default; the authors' code): `f_j = mean_n sin(w0 * x_nj)`.
  No parameters.
- `LearnableSignRotator` (the paper, eq. 8-9): Fourier features
  `mean_n sin(k * w0 * x_nj)` for k = 1..t, decoded by a learned vector `a`:
  `f_j = sum_k a_k mean_n sin(k w0 x_nj)`; bias-free, hence odd.

`sign` has zero gradient, so `LearnableSignRotator` uses a straight-through
estimator with a tanh surrogate: the forward pass is the exact `sign(f)` (so the
output stays exactly sign-invariant and a pure +-1 flip, which a tanh forward
would break by shrinking axes whose statistic is near 0), while the backward pass
uses the gradient of `tanh(f / tau)` with respect to `a`. The surrogate does not
feed gradients into the points: like the fixed rotator, `d out / d x = sign(f)`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


def sign_canonicalize(points: jax.Array, w0: float = 1.0) -> jax.Array:
  """The authors' parameter-free rotator: `x * sign(mean_n sin(w0 x))` per axis.

  An axis whose statistic is exactly 0 is multiplied by 0, as `torch.sign` does
  (this only happens for an axis that is identically 0, or by measure-zero chance).

  Args:
    points: [..., N, 3] (PCA-projected clouds).
    w0: frequency of the sine statistic (1 in the reference; 10 for segmentation
      evaluation).
  Returns:
    [..., N, 3], invariant to flipping the sign of any coordinate axis.
  """
  signs = jnp.sign(jnp.sin(w0 * points).mean(axis=-2, keepdims=True))
  return points * signs


@dataclasses.dataclass(frozen=True)
class SignRotator:
  """The code's fixed rotator as an init/apply pair (no parameters)."""
  w0: float = 1.0

  def init(self, key: jax.Array | None = None) -> dict:
    """No parameters: `key` is only there for the rotators' common interface."""
    del key
    return {}

  def apply(self, params: dict, points: jax.Array) -> jax.Array:
    """points: [..., N, 3] -> [..., N, 3]."""
    del params
    return sign_canonicalize(points, self.w0)


@dataclasses.dataclass(frozen=True)
class LearnableSignRotator:
  """The paper's learnable Fourier rotator (eq. 8-9) with a straight-through sign.

  Attributes:
    num_frequencies: t, the number of Fourier frequencies k = 1..t.
    w0: base frequency; feature k is `sin(k * w0 * x)`.
    tau: temperature of the tanh surrogate used for the backward pass.
  """
  num_frequencies: int = 8
  w0: float = 1.0
  tau: float = 0.1

  def init(self, key: jax.Array) -> dict:
    """Returns {'decoder': [t]}, initialised to (1, 0, ..., 0).

    At initialisation the learnable rotator therefore equals `SignRotator(w0)`;
    training can only move it away from the code's choice where that helps.
    """
    del key
    return {'decoder': jnp.zeros((self.num_frequencies,), jnp.float32).at[0].set(1.0)}

  def statistic(self, params: dict, points: jax.Array) -> jax.Array:
    """The odd per-axis statistic f. points: [..., N, 3] -> [..., 1, 3]."""
    k = self.w0 * jnp.arange(1, self.num_frequencies + 1, dtype=jnp.float32)
    feats = jnp.sin(points[..., None] * k).mean(axis=-3, keepdims=True)  # [..., 1, 3, t]
    return feats @ params['decoder']

  def apply(self, params: dict, points: jax.Array) -> jax.Array:
    """points: [..., N, 3] -> [..., N, 3]."""
    f = self.statistic(params, jax.lax.stop_gradient(points))
    surrogate = jnp.tanh(f / self.tau)
    signs = jnp.sign(f) + surrogate - jax.lax.stop_gradient(surrogate)
    return points * signs


@dataclasses.dataclass(frozen=True)
class IdentityRotator:
  """No canonicalisation (the aligned setting)."""

  def init(self, key: jax.Array | None = None) -> dict:
    """No parameters: `key` is only there for the rotators' common interface."""
    del key
    return {}

  def apply(self, params: dict, points: jax.Array) -> jax.Array:
    del params
    return points


KINDS = ('none', 'fixed', 'learnable')


def make_rotator(kind: str, w0: float = 1.0, num_frequencies: int = 8, tau: float = 0.1):
  """Builds a rotator from a config string: 'none', 'fixed' (code) or 'learnable' (paper)."""
  if kind == 'none':
    return IdentityRotator()
  if kind == 'fixed':
    return SignRotator(w0=w0)
  if kind == 'learnable':
    return LearnableSignRotator(num_frequencies=num_frequencies, w0=w0, tau=tau)
  raise ValueError(f"rotator kind {kind!r} is unknown; use 'none', 'fixed' or 'learnable'.")
