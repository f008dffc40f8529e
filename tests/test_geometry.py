"""Properties of dd3d_jax.geometry: exact reference formulas, SO(3), PCA, augmentation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import geometry


def anisotropic_cloud(key, batch=(), n=256, scales=(3.0, 2.0, 1.0)):
  """A Gaussian cloud with clearly distinct principal variances, randomly oriented."""
  k1, k2 = jax.random.split(key)
  pts = jax.random.normal(k1, (*batch, n, 3)) * jnp.asarray(scales)
  return pts @ geometry.random_rotation(k2, batch)


def test_normalize_matches_reference_formula():
  pts = np.random.default_rng(0).normal(size=(2, 5, 64, 3)).astype(np.float32) * 3 + 1
  out = np.asarray(geometry.normalize_to_unit_sphere(pts))
  ref = pts - pts.mean(axis=-2, keepdims=True)
  ref = ref / (np.linalg.norm(ref, axis=-1).max(axis=-1)[..., None, None] + 1e-4)
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
  assert out.dtype == np.float32
  np.testing.assert_allclose(out.mean(axis=-2), 0, atol=1e-6)
  assert np.linalg.norm(out, axis=-1).max() < 1.0


def test_normalize_single_point_is_finite():
  out = geometry.normalize_to_unit_sphere(jnp.ones((1, 3)))
  assert np.all(np.isfinite(out)) and np.allclose(out, 0)


def test_random_rotation_is_special_orthogonal():
  r = geometry.random_rotation(jax.random.key(0), (500,))
  chex.assert_shape(r, (500, 3, 3))
  np.testing.assert_allclose(np.asarray(r @ jnp.swapaxes(r, -1, -2)),
                             np.broadcast_to(np.eye(3), (500, 3, 3)), atol=1e-5)
  np.testing.assert_allclose(np.asarray(jnp.linalg.det(r)), 1.0, atol=1e-5)


def test_random_rotation_is_uniform():
  # Haar measure: E[R] = 0 and E[R_ij^2] = 1/3 for every entry.
  r = np.asarray(geometry.random_rotation(jax.random.key(1), (20000,)))
  np.testing.assert_allclose(r.mean(axis=0), 0, atol=0.02)
  np.testing.assert_allclose((r ** 2).mean(axis=0), 1 / 3, atol=0.02)
  # The image of a fixed axis is uniform on the sphere: its z-coordinate is U(-1, 1).
  z = r[:, 2, 2]
  np.testing.assert_allclose(np.histogram(z, bins=4, range=(-1, 1))[0] / len(z), 0.25, atol=0.02)


def test_pca_orders_axes_and_reconstructs():
  pts = anisotropic_cloud(jax.random.key(2), batch=(4,))
  canon, basis, eig = geometry.pca_canonicalize(pts)
  chex.assert_shape((canon, basis, eig), ((4, 256, 3), (4, 3, 3), (4, 3)))
  assert np.all(np.diff(np.asarray(eig), axis=-1) <= 0)
  np.testing.assert_allclose(np.asarray(basis @ jnp.swapaxes(basis, -1, -2)),
                             np.broadcast_to(np.eye(3), (4, 3, 3)), atol=1e-5)
  recon = canon @ jnp.swapaxes(basis, -1, -2) + pts.mean(axis=-2, keepdims=True)
  np.testing.assert_allclose(np.asarray(recon), np.asarray(pts), atol=1e-4)
  # Canonical coordinates are uncorrelated, with the eigenvalues as variances.
  cov = np.einsum('bni,bnj->bij', np.asarray(canon), np.asarray(canon)) / 256
  np.testing.assert_allclose(cov, np.asarray(jax.vmap(jnp.diag)(eig)), atol=1e-4)


def test_pca_is_rotation_equivariant_up_to_axis_signs():
  pts = anisotropic_cloud(jax.random.key(3))
  canon, _, eig = geometry.pca_canonicalize(pts)
  for r in geometry.random_rotation(jax.random.key(4), (8,)):
    canon_r, _, eig_r = geometry.pca_canonicalize(pts @ r)
    np.testing.assert_allclose(np.abs(canon_r), np.abs(canon), atol=1e-4)
    np.testing.assert_allclose(eig_r, eig, rtol=1e-4)


@pytest.mark.parametrize('cloud', [
    np.zeros((1, 3)),                                   # one point
    np.ones((32, 3)),                                   # all points equal
    np.stack([np.linspace(-1, 1, 32)] * 3, axis=-1),    # collinear
    np.array([[1., 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]),  # isotropic
])
def test_pca_degenerate_clouds_are_finite(cloud):
  canon, basis, eig = geometry.pca_canonicalize(jnp.asarray(cloud, jnp.float32))
  for x in (canon, basis, eig):
    assert np.all(np.isfinite(np.asarray(x)))
  np.testing.assert_allclose(np.asarray(basis @ basis.T), np.eye(3), atol=1e-5)


def test_euler_rotation_matches_reference_product():
  angles = np.array([0.1, -0.05, 0.17], np.float32)
  cx, cy, cz = np.cos(angles)
  sx, sy, sz = np.sin(angles)
  rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
  ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
  rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
  np.testing.assert_allclose(np.asarray(geometry.euler_rotation(jnp.asarray(angles))),
                             rz @ ry @ rx, atol=1e-6)


def test_augmentations_respect_reference_ranges():
  pts = anisotropic_cloud(jax.random.key(5), batch=(2000,), n=16)
  key = jax.random.key(6)
  scaled = geometry.random_scale(key, pts)
  ratio = np.asarray(scaled[:, 0, 0] / pts[:, 0, 0])
  assert 0.8 <= ratio.min() < 0.82 and 1.23 < ratio.max() <= 1.25
  noise = np.asarray(geometry.jitter(key, pts) - pts)
  assert np.abs(noise).max() <= 0.05 + 1e-6
  assert 0.0085 < noise.std() < 0.0105  # clipping at 5 sigma barely changes sigma=0.01
  rotated = geometry.rotate_perturbation(key, pts)
  np.testing.assert_allclose(np.linalg.norm(rotated, axis=-1), np.linalg.norm(pts, axis=-1),
                             rtol=1e-4)
  # Rotation angle of each cloud is at most sqrt(3) * 0.18 rad.
  cos = np.sum(np.asarray(rotated) * np.asarray(pts), -1) / np.sum(np.asarray(pts) ** 2, -1)
  assert np.arccos(np.clip(cos, -1, 1)).max() <= np.sqrt(3) * 0.18 + 1e-3
  out = geometry.augment(key, pts)
  chex.assert_shape(out, pts.shape)
  assert not np.allclose(out, pts)


def test_augment_draws_independently_per_cloud():
  pts = jnp.tile(anisotropic_cloud(jax.random.key(7), n=16)[None], (4, 1, 1))
  out = np.asarray(geometry.augment(jax.random.key(8), pts))
  assert not np.allclose(out[0], out[1])



def test_rotate_about_up_turns_each_cloud_about_y_by_its_own_angle():
  pts = anisotropic_cloud(jax.random.key(0), (3,), n=32)
  out = geometry.rotate_about_up(jax.random.key(1), pts)
  np.testing.assert_allclose(out[..., 1], pts[..., 1], atol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(out[..., ::2], axis=-1),
                             jnp.linalg.norm(pts[..., ::2], axis=-1), rtol=1e-5, atol=1e-6)
  turns = [float(jnp.arctan2(out[i, 0, 2], out[i, 0, 0]) - jnp.arctan2(pts[i, 0, 2], pts[i, 0, 0]))
           for i in range(3)]
  assert len({round(t % (2 * np.pi), 3) for t in turns}) == 3


def test_drop_points_puts_about_the_ratio_of_points_on_the_first():
  pts = jax.random.normal(jax.random.key(0), (2, 4000, 3))
  np.testing.assert_array_equal(geometry.drop_points(jax.random.key(1), pts, 0.0), pts)
  out = geometry.drop_points(jax.random.key(1), pts, jnp.asarray([0.25, 0.75]))
  chex.assert_shape(out, pts.shape)
  kept = (out == pts).all(-1)
  assert ((out == pts[:, :1]).all(-1) | kept).all()  # a point is kept or is the first
  np.testing.assert_allclose(1 - kept.mean(1), [0.25, 0.75], atol=0.03)


def test_augment_together_draws_one_transform_for_both_sets():
  b, cpc, n = 4, 2, 24
  cloud = geometry.normalize_to_unit_sphere(jax.random.normal(jax.random.key(0), (1, n, 3)))
  real, syn = jnp.tile(cloud, (b, 1, 1)), jnp.tile(cloud, (cpc, 1, 1))
  real_aug, syn_aug = geometry.augment_together(jax.random.key(7), real, syn)
  chex.assert_shape((real_aug, syn_aug), (real.shape, syn.shape))
  # Same scale and rotation: the clouds differ by their jitter only (<= 0.05 per coordinate each).
  assert float(jnp.abs(real_aug[:, None] - syn_aug[None]).max()) <= 0.1 + 1e-6
  independent = geometry.augment(jax.random.key(8), real)
  assert float(jnp.abs(independent[:, None] - syn_aug[None]).max()) > 0.1
  # With a turn about the up axis: still one transform for both; the default adds none.
  real_up, syn_up = geometry.augment_together(jax.random.key(7), real, syn, up=True)
  assert float(jnp.abs(real_up[:, None] - syn_up[None]).max()) <= 0.1 + 1e-6
  assert float(jnp.abs(real_up - real_aug).max()) > 0.1
  # With point dropout: one fraction for both sets, drawn again with the key.
  real_drop, syn_drop = geometry.augment_together(jax.random.key(7), real, syn, dropout=0.9)
  dropped = [float(1 - (x == a).all(-1).mean()) for x, a in ((real_drop, real_aug),
                                                                (syn_drop, syn_aug))]
  assert 0 < dropped[0] < 0.9 and abs(dropped[0] - dropped[1]) < 0.3

def test_subsample_keeps_distinct_points_of_each_cloud():
  pts = jnp.arange(2 * 3 * 100 * 3, dtype=jnp.float32).reshape(2, 3, 100, 3)
  out = geometry.subsample(jax.random.key(9), pts, 40)
  chex.assert_shape(out, (2, 3, 40, 3))
  for b in range(2):
    for c in range(3):
      rows = {tuple(p) for p in np.asarray(out[b, c])}
      assert len(rows) == 40 and rows <= {tuple(p) for p in np.asarray(pts[b, c])}
  point_index = (np.asarray(out[..., 0]) / 3).astype(int) % 100
  assert not np.array_equal(point_index[0, 0], point_index[0, 1])  # own draw per cloud


def test_subsample_indices_are_uniform_subsets_in_random_order():
  idx = np.asarray(geometry.subsample_indices(jax.random.key(3), (20000, 10), 3))
  assert all(len(set(row)) == 3 for row in idx[:500])
  # every point is kept with probability 3/10, and each kept slot is any point alike
  np.testing.assert_allclose(np.bincount(idx.ravel(), minlength=10) / 20000, 0.3, atol=0.015)
  np.testing.assert_allclose(np.bincount(idx[:, 0], minlength=10) / 20000, 0.1, atol=0.01)


def test_subsample_labelled_keeps_each_points_label_and_the_same_draw():
  pts = jax.random.normal(jax.random.key(1), (2, 3, 50, 3))
  labels = jnp.broadcast_to(jnp.arange(50), (2, 3, 50))  # a point's label: its index
  kept, kept_labels = geometry.subsample_labelled(jax.random.key(4), pts, labels, 20)
  np.testing.assert_array_equal(kept, geometry.subsample(jax.random.key(4), pts, 20))
  np.testing.assert_array_equal(kept, jnp.take_along_axis(pts, kept_labels[..., None], axis=-2))
  assert geometry.subsample_labelled(jax.random.key(4), pts, None, 20)[1] is None


def test_subsample_rejects_too_many_points():
  with pytest.raises(ValueError, match='cannot keep 200 of 100'):
    geometry.subsample(jax.random.key(0), jnp.zeros((100, 3)), 200)


def test_densify_keeps_the_points_and_adds_each_between_a_point_and_a_near_neighbour():
  pts = jax.random.normal(jax.random.key(2), (2, 3, 40, 3))
  labels = jnp.broadcast_to(jnp.arange(40), (2, 3, 40))  # a point's label: its index
  dense, dense_labels = geometry.densify(jax.random.key(5), pts, labels, 130, neighbours=4)
  chex.assert_shape((dense, dense_labels), ((2, 3, 130, 3), (2, 3, 130)))
  np.testing.assert_array_equal(dense[..., :40, :], pts)
  np.testing.assert_array_equal(dense_labels[..., :40], labels)
  source = np.asarray(dense_labels[..., 40:])
  np.testing.assert_array_equal(source, np.broadcast_to(np.arange(90) % 40, source.shape))
  added, p = np.asarray(dense[..., 40:, :], np.float64), np.asarray(pts, np.float64)
  start = np.take_along_axis(p, source[..., None], axis=-2)
  d = ((p[..., :, None, :] - p[..., None, :, :]) ** 2).sum(-1)             # [2, 3, 40, 40]
  near = np.argsort(d, axis=-1, kind='stable')[..., 1:5]                   # 4 nearest others
  for b, c, e in np.ndindex(2, 3, 90):
    s = source[b, c, e]
    # on the segment toward one of the 4 nearest others, less than halfway
    offsets = p[b, c, near[b, c, s]] - start[b, c, e]                       # [4, 3]
    frac = (offsets @ (added[b, c, e] - start[b, c, e])) / (offsets ** 2).sum(-1)
    on = np.linalg.norm(start[b, c, e] + frac[:, None] * offsets - added[b, c, e], axis=-1)
    assert np.any((on < 1e-5) & (frac >= 0) & (frac < 0.5)), (b, c, e)
  assert not np.allclose(dense[0, 0, 40:], dense[0, 1, 40:])  # own draw per cloud
  assert geometry.densify(jax.random.key(5), pts, None, 130)[1] is None


def test_densify_to_its_own_resolution_is_the_identity_and_rejects_shrinking():
  pts = jax.random.normal(jax.random.key(1), (5, 3))
  np.testing.assert_array_equal(geometry.densify(jax.random.key(0), pts, None, 5)[0], pts)
  with pytest.raises(ValueError, match='cannot bring 5 points up to 4'):
    geometry.densify(jax.random.key(0), pts, None, 4)


def test_jitted_geometry_traces_once():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def pipeline(key, pts):
    k1, k2 = jax.random.split(key)
    canon, _, _ = geometry.pca_canonicalize(geometry.normalize_to_unit_sphere(pts))
    return geometry.subsample(k2, geometry.augment(k1, canon), 32)

  for seed in range(3):
    pipeline(jax.random.key(seed), jax.random.normal(jax.random.key(seed), (4, 64, 3)))
