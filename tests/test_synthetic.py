"""Synthetic sets: split/join round trips, and the GM baseline's tensor gradients."""


import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import distill, models, synthetic
from dd3d_jax.objectives import gradient
from dd3d_jax import generator as gen

K, CPC, N = 3, 2, 40


@pytest.mark.parametrize('synth', [
    synthetic.SirenSet(gen.ModulatedSiren(num_classes=K, cpc=CPC, w0_initial=30.0, hidden=16)),
    synthetic.TensorSet(K, CPC, N)], ids=['siren', 'tensor'])
def test_split_join_round_trip_and_class_points(synth):
  params = synth.init(jax.random.key(0))
  shared, parts = synth.split(params)
  assert parts.shape[:2] == (K, CPC)
  chex.assert_trees_all_equal(synth.join(shared, parts), params)
  noise = gen.sample_noise(jax.random.key(1), K * CPC, N)
  everything = synth.generate(params, noise)
  chex.assert_shape(everything, (K * CPC, N, 3))
  for c in range(K):  # a class's own part generates exactly that class's clouds
    np.testing.assert_allclose(
        synth.class_points(shared, parts[c], noise[c * CPC:(c + 1) * CPC]),
        everything[c * CPC:(c + 1) * CPC], atol=1e-6)


def test_tensor_set_refuses_another_resolution():
  synth = synthetic.TensorSet(K, CPC, N)
  with pytest.raises(ValueError, match='has 40 points per cloud, not 64'):
    synth.generate(synth.init(jax.random.key(0)), jnp.zeros((K * CPC, 64, 1)))


@pytest.mark.slow  # the same map_classes as tests/test_distill.py's chunked check
def test_gm_on_a_tensor_matches_the_per_class_reference():
  synth = synthetic.TensorSet(K, CPC, N)
  clf = models.make_network('pointnet', K)
  d = distill.Distiller(synthesizer=synth, network=clf, num_classes=K, cpc=CPC, batch_real=4,
                        train_points=N, outer_loop=1, inner_loop=1, iterations=1)
  params = synthetic.TensorSet.from_clouds(jax.random.normal(jax.random.key(0), (K * CPC, N, 3)))
  net = clf.init(jax.random.key(1))
  real = jax.random.normal(jax.random.key(2), (K, 4, N, 3))
  weights = jnp.full((K, 4), 0.25)
  noise = jnp.zeros((K, CPC, N, 1))
  loss, grads = distill.matching_loss_and_grad(d, params, net, real, weights, noise)

  def reference(points):
    total = 0.0
    for c in range(K):
      g_real = gradient.network_gradient(clf.logits, net, real[c], jnp.full(4, c))
      g_syn = gradient.network_gradient(clf.logits, net, points[c * CPC:(c + 1) * CPC],
                                        jnp.full(CPC, c))
      total += gradient.match_distance(g_real, g_syn)
    return total

  ref_loss, ref_grad = jax.jit(jax.value_and_grad(reference))(params['points'])
  np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
  rel = float(jnp.abs(grads['points'] - ref_grad).max() / jnp.abs(ref_grad).max())
  assert rel < 1e-3  # float32; the exact-math check is the SIREN one in float64
