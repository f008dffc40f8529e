"""SADM's objective against a NumPy transcription of its reference; order invariance."""

import jax
import jax.numpy as jnp
import numpy as np

from dd3d_jax.objectives.sorted import rbf_mmd, sadm_loss, sorted_feature_distance


def sadm_reference(real_pw, syn_pw, real_g, syn_g):
  """donguk071/SADM main.py + utils.RBF/M3DLoss, with features as [B, C, N] (PyTorch)."""
  r = -np.sort(-np.transpose(real_pw, (0, 2, 1)), axis=2).mean(0)   # [C, N]
  s = -np.sort(-np.transpose(syn_pw, (0, 2, 1)), axis=2).mean(0)
  first = ((r - s) ** 2).sum(0).mean()
  z = np.vstack([real_g, syn_g])
  d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
  h = d2.sum() / (len(z) ** 2 - len(z))
  k = sum(np.exp(-d2 / (h * m)) for m in 2.0 ** (np.arange(5) - 2))
  b = len(real_g)
  mmd = k[:b, :b].mean() - 2 * k[:b, b:].mean() + k[b:, b:].mean()
  return 0.2 * first + 0.001 * mmd


def features(seed, b, n=12, c=6, f=5):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(b, n, c)), rng.normal(size=(b, f))


def test_matches_the_reference_in_float64():
  (rp, rg), (sp, sg) = features(0, 4), features(1, 2)
  with jax.enable_x64(True):
    got = float(jax.jit(sadm_loss)(jnp.asarray(rp), jnp.asarray(sp), jnp.asarray(rg),
                                   jnp.asarray(sg)))
  np.testing.assert_allclose(got, sadm_reference(rp, sp, rg, sg), rtol=1e-12)


def test_point_order_does_not_matter_and_equal_sets_score_zero():
  (rp, rg), (sp, _) = features(2, 3), features(3, 3)
  perm = np.random.default_rng(4).permutation(rp.shape[1])
  a = sorted_feature_distance(rp, sp)
  np.testing.assert_allclose(sorted_feature_distance(rp[:, perm], sp), a, rtol=1e-6)
  assert float(sorted_feature_distance(rp, rp[:, perm])) < 1e-12
  assert abs(float(rbf_mmd(rg, rg))) < 1e-6


def test_the_gradient_moves_synthetic_features_towards_the_real_ones():
  (rp, rg), (sp, sg) = features(5, 4), features(6, 2)
  rp, rg, sp, sg = (jnp.asarray(a, jnp.float32) for a in (rp, rg, sp, sg))
  loss = jax.jit(lambda p, g: sadm_loss(rp, p, rg, g))
  gp, gg = jax.jit(jax.grad(loss, argnums=(0, 1)))(sp, sg)
  assert jnp.isfinite(gp).all() and jnp.isfinite(gg).all()
  assert float(loss(sp - 0.5 * gp, sg - 50.0 * gg)) < float(loss(sp, sg))


def test_a_masked_real_cloud_counts_as_absent():
  (rp, rg), (sp, sg) = features(7, 5), features(8, 2)
  mask = np.array([1, 1, 0, 1, 0])
  keep = mask.astype(bool)
  with jax.enable_x64(True):
    got = float(jax.jit(sadm_loss)(jnp.asarray(rp), jnp.asarray(sp), jnp.asarray(rg),
                                   jnp.asarray(sg), jnp.asarray(mask)))
  np.testing.assert_allclose(got, sadm_reference(rp[keep], sp, rg[keep], sg), rtol=1e-12)
