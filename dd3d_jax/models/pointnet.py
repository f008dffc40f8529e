"""PointNets of the reference: the lightweight classifier and the part segmenter.

Points are `[B, N, 3]` rows; a 1x1 convolution is a Dense layer over the last
axis, so Flax kernels are (in, out), the transpose of PyTorch's (out, in, 1).
Initialisation is PyTorch's default for Conv1d/Linear: W, b ~ U(+-1/sqrt(fan_in)).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from dd3d_jax.initializers import torch_default

FEATURE_DIM = 1024


def torch_dense(features: int, fan_in: int, name: str) -> nn.Dense:
  """A Dense layer initialised like PyTorch's Linear/Conv1d(kernel 1)."""
  init = torch_default(fan_in)
  return nn.Dense(features, kernel_init=init, bias_init=init, name=name)


def instance_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
  """InstanceNorm1d without affine or running statistics, over the points axis.

  x: [..., N, C] -> [..., N, C], each (cloud, channel) standardised over N with
  the biased variance, as `torch.nn.InstanceNorm1d(C)`.
  """
  mean = x.mean(axis=-2, keepdims=True)
  centred = x - mean
  var = jnp.square(centred).mean(axis=-2, keepdims=True)
  return centred * jax.lax.rsqrt(var + eps)


def argmax_points(y: jax.Array, block: int = 32) -> jax.Array:
  """`jnp.argmax(y, axis=-2)` (first maximum), computed blockwise.

  XLA:CPU lowers argmax to a variadic reduce that is several times slower than a
  plain max; taking the max of blocks of `block` points, then the argmax among the
  blocks and within the winning block, gives the same index ~5x faster (measured).

  y: [..., N, C] -> [..., C] int32.
  """
  n = y.shape[-2]
  pad = -n % block
  if pad:
    fill = jnp.full((*y.shape[:-2], pad, y.shape[-1]), -jnp.inf, y.dtype)
    y = jnp.concatenate([y, fill], axis=-2)
  blocks = y.reshape(*y.shape[:-2], -1, block, y.shape[-1])             # [..., nb, block, C]
  best = jnp.argmax(blocks.max(axis=-2), axis=-2)                       # [..., C]
  inside = jnp.take_along_axis(blocks, best[..., None, None, :], axis=-3)[..., 0, :, :]
  return (best * block + jnp.argmax(inside, axis=-2)).astype(jnp.int32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _instance_norm_max_small(x: jax.Array, kernel: jax.Array, bias: jax.Array,
                             eps: float) -> jax.Array:
  """`instance_norm(x @ kernel + bias).max(axis=-2)` with a structured reverse mode.

  Its derivative is a one-hot term at each channel's winning point plus terms of rank
  one in the points: with z = instance_norm(y), o_c = z at the winner a_c and a cotangent
  g, dL/dy_ic = g_c/s_c (1[i = a_c] - 1/N - z_ic o_c / N). So the backward never forms
  the [N, C] cotangent: dx = scatter of the winners' kernel rows - (x - mean) M with
  M = W diag(h) W^T [K, K], and dW = winners' rows - mean + Gram(x) W diag(h), at
  K x K cost instead of two [N, K] x [K, C] products. The rule is plain JAX, so a
  gradient of a gradient differentiates through it. x: [B, N, K] -> [B, C].
  """
  return instance_norm(x @ kernel + bias, eps).max(axis=-2)


def _small_fwd(x, kernel, bias, eps):
  del bias  # it cancels in the norm, so no pass over [B, N, C] adds it
  y = x @ kernel                                                         # [B, N, C]
  mean = x.mean(axis=-2) @ kernel                                        # = y's, K x C
  rs = jax.lax.rsqrt(jnp.square(y - mean[:, None, :]).mean(axis=-2) + eps)   # 1 / s
  winner = argmax_points(y)                                              # [B, C]
  out = (jnp.take_along_axis(y, winner[:, None, :], axis=-2)[:, 0] - mean) * rs
  return out, (x, kernel, rs, winner, out)


def _small_bwd(eps, res, g):
  del eps  # already inside rs = 1 / sqrt(var + eps)
  x, kernel, rs, winner, out = res
  n = x.shape[-2]
  gs = g * rs                                                            # [B, C]
  h = g * out * jnp.square(rs) / n           # dL/dy = gs 1[i = a] - gs / N - (y - mean) h
  xbar = x.mean(axis=-2)                                                 # [B, K]
  xc = x - xbar[:, None, :]
  x_win = jnp.take_along_axis(x, winner[..., None], axis=-2)             # [B, C, K]
  gram = jnp.einsum('bnk,bnl->bkl', xc, xc)                              # [B, K, K]
  d_kernel = (jnp.einsum('bck,bc->kc', x_win, gs) - jnp.einsum('bk,bc->kc', xbar, gs)
              - jnp.einsum('bkl,lc,bc->kc', gram, kernel, h))
  m = jnp.einsum('kc,bc,lc->bkl', kernel, h, kernel)                     # [B, K, K]
  rows = jnp.arange(x.shape[0])[:, None]
  dx = jnp.zeros_like(x).at[rows, winner].add(gs[..., None] * kernel.T)  # the winners
  dx = dx - (jnp.einsum('bc,kc->bk', gs, kernel) / n)[:, None, :] - xc @ m
  return dx, d_kernel, jnp.zeros(kernel.shape[-1], kernel.dtype)  # the bias cancels


_instance_norm_max_small.defvjp(_small_fwd, _small_bwd)


def instance_norm_max(x: jax.Array, kernel: jax.Array, bias: jax.Array,
                      eps: float = 1e-5) -> jax.Array:
  """`instance_norm(x @ kernel + bias).max(axis=-2)`, computed for cheap derivatives.

  For N points of K features, the full product is only needed to find which point
  wins each channel (no gradient flows through a comparison). For N > 2K everything
  differentiable comes from moments of x: the channel mean is `mean(x) @ W + b`,
  the variance `w_c^T Cov(x) w_c`, and the winner's value a gather-dot, so reverse
  mode (and reverse of reverse, in gradient matching) never transposes the
  [N, K] x [K, C] product; it works on K x K moments instead. For fewer points the
  per-cloud variance `W^T Cov W` would cost half the product itself, so the forward
  is the plain formula and only the reverse mode is structured
  (`_instance_norm_max_small`). Both give the same function (checked to 1e-12 in
  float64, second derivatives included); the bias cancels (its gradient is 0), and
  ties pick the first point.

  Args:
    x: [..., N, K]; kernel: [K, C]; bias: [C].
  Returns:
    [..., C].
  """
  n, k = x.shape[-2:]
  if n <= 2 * k:
    out = _instance_norm_max_small(x.reshape(-1, n, k), kernel, bias, eps)
    return out.reshape(*x.shape[:-2], kernel.shape[-1])
  winner = argmax_points(jax.lax.stop_gradient(x @ kernel))              # [..., C]
  mean = x.mean(axis=-2, keepdims=True)                                  # [..., 1, K]
  centred = x - mean
  cov = jnp.einsum('...nk,...nl->...kl', centred, centred) / n           # [..., K, K]
  var = jnp.sum((cov @ kernel) * kernel, axis=-2)                        # [..., C]
  x_win = jnp.take_along_axis(centred, winner[..., None], axis=-2)      # [..., C, K]
  top = jnp.einsum('...ck,kc->...c', x_win, kernel)
  return top * jax.lax.rsqrt(var + eps)


class DenseInstanceNormMax(nn.Module):
  """A 1x1 convolution, InstanceNorm and max-pool over points, as one layer.

  Parameters are a Dense layer's ('kernel' [K, C], 'bias' [C]) with PyTorch's default
  init, so checkpoints and gradients keep the plain layer's layout.
  """
  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: [..., N, K] -> [..., features]."""
    init = torch_default(x.shape[-1])
    kernel = self.param('kernel', init, (x.shape[-1], self.features))
    bias = self.param('bias', init, (self.features,))
    return instance_norm_max(x, kernel, bias)


class PointNetCls(nn.Module):
  """The lightweight classification PointNet (no T-Net) used for distillation.

  conv 3->64->128->1024, each followed by InstanceNorm (ReLU after the first two),
  max-pool over points, Linear 1024 -> num_classes.
  """
  num_classes: int

  def setup(self):
    self.conv1 = torch_dense(64, 3, 'conv1')
    self.conv2 = torch_dense(128, 64, 'conv2')
    self.conv3 = DenseInstanceNormMax(FEATURE_DIM, name='conv3')
    self.classifier = torch_dense(self.num_classes, FEATURE_DIM, 'classifier')

  def embed(self, points: jax.Array, train: bool = False) -> jax.Array:
    """The global feature. points: [B, N, 3] -> [B, 1024] (`train` changes nothing)."""
    del train
    x = jax.nn.relu(instance_norm(self.conv1(points)))
    x = jax.nn.relu(instance_norm(self.conv2(x)))
    return self.conv3(x)

  def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
    """Class logits. points: [B, N, 3] -> [B, num_classes]."""
    return self.classifier(self.embed(points, train))


def make(num_classes: int) -> nn.Module:
  """The classification network of `model.arch = 'pointnet'`."""
  return PointNetCls(num_classes=num_classes)


class PointNetSeg(nn.Module):
  """The reference part-segmentation PointNet (BatchNorm trunk).

  Per point: [global max feature (1024), one-hot shape class, x1 (64), x2 (128)]
  -> Linear -> num_parts logits. BatchNorm matches PyTorch's (momentum 0.1,
  eps 1e-5, affine) except that running variances use the biased estimate.
  """
  num_parts: int = 50
  num_shape_classes: int = 16

  @nn.compact
  def __call__(self, points: jax.Array, shape_labels: jax.Array, train: bool) -> jax.Array:
    """Part logits.

    Args:
      points: [B, N, 3].
      shape_labels: [B] int shape class.
      train: use batch statistics (and update `batch_stats`) if True, else the
        running averages.
    Returns:
      [B, N, num_parts].
    """
    def bn(name):
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)

    x1 = jax.nn.relu(bn('bn1')(torch_dense(64, 3, 'conv1')(points)))
    x2 = jax.nn.relu(bn('bn2')(torch_dense(128, 64, 'conv2')(x1)))
    x3 = bn('bn3')(torch_dense(FEATURE_DIM, 128, 'conv3')(x2))
    n = points.shape[-2]
    glob = jnp.concatenate(
        [x3.max(axis=-2), jax.nn.one_hot(shape_labels, self.num_shape_classes, dtype=x3.dtype)],
        axis=-1)
    feat = jnp.concatenate(
        [jnp.broadcast_to(glob[:, None, :], (*glob.shape[:1], n, glob.shape[-1])), x1, x2], axis=-1)
    fan_in = FEATURE_DIM + self.num_shape_classes + 64 + 128
    return torch_dense(self.num_parts, fan_in, 'classifier')(feat)
