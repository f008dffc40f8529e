"""Point-cloud geometry: normalisation, rotations, PCA canonicalisation, augmentation.

Every function is pure, float32 and batched over any leading axes: a cloud is
`[..., N, 3]` and points are row vectors, so a rotation `R` acts as `points @ R`.
Random functions take a key and draw independent parameters per cloud.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dd3d_jax.ops.neighbors import knn

# Reference augmentation parameters (authors' provider.py).
SCALE_RANGE = (0.8, 1.25)
JITTER_SIGMA, JITTER_CLIP = 0.01, 0.05
PERTURB_SIGMA, PERTURB_CLIP = 0.06, 0.18


def normalize_to_unit_sphere(points: jax.Array) -> jax.Array:
  """Centres each cloud and scales it into the unit sphere, as the reference.

  `p -= mean(p); p /= max_n |p_n| + 1e-4` (the 1e-4 keeps a one-point cloud finite).

  Args:
    points: [..., N, 3].
  Returns:
    [..., N, 3] float32 (float64 stays float64, for gradient checks).
  """
  points = jnp.asarray(points)
  points = points.astype(jnp.promote_types(points.dtype, jnp.float32))
  centred = points - points.mean(axis=-2, keepdims=True)
  radius = jnp.linalg.norm(centred, axis=-1).max(axis=-1)[..., None, None]
  return centred / (radius + 1e-4)


def random_rotation(key: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
  """Uniformly random rotation matrices (Haar measure on SO(3)).

  A normalised 4-d Gaussian is a uniform unit quaternion, and the quaternion to
  matrix map pushes it forward to the uniform distribution on SO(3).

  Args:
    key: PRNG key.
    shape: leading batch shape.
  Returns:
    [*shape, 3, 3] float32 orthonormal matrices with determinant +1.
  """
  q = jax.random.normal(key, (*shape, 4), jnp.float32)
  w, x, y, z = jnp.moveaxis(q / jnp.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
  rows = [
      [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
  ]
  return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def pca_canonicalize(points: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Projects each centred cloud onto its principal axes, largest variance first.

  PCA is rotation-equivariant: for a rotation R, `pca(P @ R)` equals `pca(P)` up to
  the sign of each axis (8 possible views); `rotator` removes that ambiguity.
  Degenerate clouds (repeated eigenvalues, a single point, all points equal) give
  some orthonormal basis and finite output, never NaN. Not meant to be
  differentiated (eigenvector gradients are singular at repeated eigenvalues).

  Args:
    points: [..., N, 3].
  Returns:
    canonical: [..., N, 3], `(points - mean) @ basis`.
    basis: [..., 3, 3], eigenvectors of the covariance as columns.
    eigenvalues: [..., 3], the variances along those axes, descending.
  """
  points = jnp.asarray(points, jnp.float32)
  centred = points - points.mean(axis=-2, keepdims=True)
  cov = jnp.einsum('...ni,...nj->...ij', centred, centred) / points.shape[-2]
  eigenvalues, basis = jnp.linalg.eigh(cov)  # ascending
  eigenvalues, basis = eigenvalues[..., ::-1], basis[..., :, ::-1]
  return centred @ basis, basis, eigenvalues


def random_scale(key: jax.Array, points: jax.Array,
                 low: float = SCALE_RANGE[0], high: float = SCALE_RANGE[1]) -> jax.Array:
  """Scales each cloud by a factor drawn from U(low, high). points: [..., N, 3]."""
  scale = jax.random.uniform(key, points.shape[:-2], points.dtype, low, high)
  return points * scale[..., None, None]


def jitter(key: jax.Array, points: jax.Array,
           sigma: float = JITTER_SIGMA, clip: float = JITTER_CLIP) -> jax.Array:
  """Adds per-point noise N(0, sigma^2) clipped to +-clip. points: [..., N, 3]."""
  noise = sigma * jax.random.normal(key, points.shape, points.dtype)
  return points + jnp.clip(noise, -clip, clip)


def euler_rotation(angles: jax.Array) -> jax.Array:
  """Rotation `Rz @ Ry @ Rx` from angles (x, y, z). angles: [..., 3] -> [..., 3, 3]."""
  c, s = jnp.cos(angles), jnp.sin(angles)
  one, zero = jnp.ones_like(c[..., 0]), jnp.zeros_like(c[..., 0])

  def mat(rows):
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)

  rx = mat([[one, zero, zero], [zero, c[..., 0], -s[..., 0]], [zero, s[..., 0], c[..., 0]]])
  ry = mat([[c[..., 1], zero, s[..., 1]], [zero, one, zero], [-s[..., 1], zero, c[..., 1]]])
  rz = mat([[c[..., 2], -s[..., 2], zero], [s[..., 2], c[..., 2], zero], [zero, zero, one]])
  return rz @ ry @ rx


def rotate_perturbation(key: jax.Array, points: jax.Array,
                        sigma: float = PERTURB_SIGMA, clip: float = PERTURB_CLIP) -> jax.Array:
  """Rotates each cloud by small angles N(0, sigma^2) clipped to +-clip per axis.

  points: [..., N, 3] -> [..., N, 3].
  """
  angles = jnp.clip(sigma * jax.random.normal(key, (*points.shape[:-2], 3), points.dtype),
                    -clip, clip)
  return points @ euler_rotation(angles)


def augment(key: jax.Array, points: jax.Array) -> jax.Array:
  """The reference training augmentation: scale, then jitter, then small rotation.

  points: [..., N, 3] -> [..., N, 3].
  """
  k_scale, k_jitter, k_rot = jax.random.split(key, 3)
  points = random_scale(k_scale, points)
  points = jitter(k_jitter, points)
  return rotate_perturbation(k_rot, points)


# The up axis of the published layouts (ModelNet40's and ShapeNet-part's h5: y, the axis
# PointNet's `provider.rotate_point_cloud` turns clouds about).
UP_AXIS = 1


def rotate_about_up(key: jax.Array, points: jax.Array, axis: int = UP_AXIS) -> jax.Array:
  """Turns each cloud about the `axis` by an angle drawn from U(0, 2 pi).

  points: [..., N, 3] -> [..., N, 3].
  """
  angle = jax.random.uniform(key, points.shape[:-2], points.dtype, 0.0, 2 * jnp.pi)
  return points @ euler_rotation(jnp.zeros((*angle.shape, 3), points.dtype).at[..., axis].set(
      angle))


def drop_points(key: jax.Array, points: jax.Array, ratio: jax.Array) -> jax.Array:
  """Drops each point with probability `ratio` by putting it on the cloud's first point
  (the shapes stay; PointNet++'s `provider.random_point_dropout`).

  points: [..., N, 3]; ratio: broadcastable to [...] -> [..., N, 3].
  """
  draws = jax.random.uniform(key, points.shape[:-1], points.dtype)
  dropped = draws < jnp.asarray(ratio, points.dtype)[..., None]
  return jnp.where(dropped[..., None], points[..., :1, :], points)


def augment_together(key: jax.Array, real: jax.Array, syn: jax.Array, *, up: bool = False,
                     dropout: float = 0.0) -> tuple[jax.Array, jax.Array]:
  """`augment` with one scale and one rotation drawn for both sets (per-point jitter of
  their own): DSA's siamese augmentation, as DM and GM's `augment` apply it to one class.
  `up`: then one turn about the up axis (any angle) for both; `dropout` > 0: then each
  cloud drops a fraction of its points (`drop_points`), one fraction U(0, dropout) for
  both sets. The draws depend on the key and the shapes only.

  real: [B, N, 3], syn: [C, N', 3] -> the same shapes.
  """
  k_up, k_ratio, k_real, k_syn = (jax.random.fold_in(key, i) for i in range(1, 5))
  both = jnp.concatenate([real.reshape(1, -1, 3), syn.reshape(1, -1, 3)], axis=1)
  both = augment(key, both)
  if up:
    both = rotate_about_up(k_up, both)
  cut = real.shape[0] * real.shape[1]
  real, syn = both[0, :cut].reshape(real.shape), both[0, cut:].reshape(syn.shape)
  if dropout > 0:
    ratio = jax.random.uniform(k_ratio, (), real.dtype, 0.0, dropout)
    real, syn = drop_points(k_real, real, ratio), drop_points(k_syn, syn, ratio)
  return real, syn


def subsample(key: jax.Array, points: jax.Array, num_points: int) -> jax.Array:
  """Keeps `num_points` distinct random points of each cloud (own draw per cloud).

  Args:
    key: PRNG key.
    points: [..., N, 3] with N >= num_points.
    num_points: static number of points to keep.
  Returns:
    [..., num_points, 3].
  """
  return subsample_labelled(key, points, None, num_points)[0]


def subsample_labelled(key: jax.Array, points: jax.Array, labels: jax.Array | None,
                       num_points: int) -> tuple[jax.Array, jax.Array | None]:
  """`subsample`, with each kept point's label (a part id) kept alongside it.

  Args:
    points: [..., N, 3]; labels: [..., N] per-point labels, or None.
  Returns:
    ([..., num_points, 3], [..., num_points] or None): the same draw as `subsample`.
  """
  idx = subsample_indices(key, points.shape[:-1], num_points)
  return (jnp.take_along_axis(points, idx[..., None], axis=-2),
          None if labels is None else jnp.take_along_axis(jnp.asarray(labels), idx, axis=-1))


def densify(key: jax.Array, points: jax.Array, labels: jax.Array | None, num_points: int,
            neighbours: int = 8) -> tuple[jax.Array, jax.Array | None]:
  """Brings clouds of N points up to `num_points` (the inverse of `subsample`): the N points
  stay, first and in order, and each added point lies on the segment from one of them toward
  one of its `neighbours` nearest other points, a uniform fraction in [0, 1/2) of the way, so
  it stays on the cloud's local surface and nearer its own point, whose label it takes. The
  points take turns (point i starts added points i, i + N, ...), so each gets
  (num_points - N) / N of them, give or take one.

  Args:
    key: PRNG key (which neighbour, how far; own draw per cloud).
    points: [..., N, 3] with 1 < N <= num_points.
    labels: [..., N] per-point labels (part ids), or None.
    num_points: static number of points per cloud wanted.
    neighbours: static; the nearest points an added point may head toward (k > N - 1:
      the nearest repeats, as `ops.neighbors.knn`).
  Returns:
    ([..., num_points, 3], [..., num_points] or None).
  """
  n = points.shape[-2]
  if not 1 < n <= num_points:
    raise ValueError(f'densify: cannot bring {n} points up to {num_points}; give clouds of '
                     f'2..{num_points} points.')
  extra = num_points - n
  source = jnp.arange(extra) % n                                       # [E]
  near = knn(points, points, neighbours + 1)[..., 1:]                  # [..., N, k] (not self)
  k_pick, k_frac = jax.random.split(key)
  batch = points.shape[:-2]
  pick = jax.random.randint(k_pick, (*batch, extra, 1), 0, neighbours)
  toward = jnp.take_along_axis(near[..., source, :], pick, axis=-1)[..., 0]   # [..., E]
  start = points[..., source, :]
  end = jnp.take_along_axis(points, toward[..., None], axis=-2)
  frac = jax.random.uniform(k_frac, (*batch, extra, 1), points.dtype, 0.0, 0.5)
  dense = jnp.concatenate([points, start + frac * (end - start)], axis=-2)
  if labels is None:
    return dense, None
  labels = jnp.asarray(labels)
  return dense, jnp.concatenate([labels, labels[..., source]], axis=-1)


def subsample_indices(key: jax.Array, shape: tuple[int, ...], num_points: int) -> jax.Array:
  """The points `subsample` keeps (so that per-point labels can follow them).

  Args:
    shape: (..., N) the clouds' batch shape and point count.
  Returns:
    [..., num_points] int distinct indices into each cloud's N points.
  """
  n = shape[-1]
  if not 0 < num_points <= n:
    raise ValueError(f'subsample: cannot keep {num_points} of {n} points; '
                     f'ask for 1..{n} points.')
  # The positions of the num_points largest of N i.i.d. uniforms: a uniformly random
  # subset, in random order, for each cloud. `top_k` is a partial sort: on XLA:CPU it
  # takes 3.6x less time than the full `argsort` (40 x 32 clouds, 1,024 -> 256 points:
  # 54 vs 193 ms), which every outer step of DD3D pays for its real batch.
  return jax.lax.top_k(jax.random.uniform(key, shape), num_points)[1]
