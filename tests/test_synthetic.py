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
SIREN = gen.ModulatedSiren(num_classes=K, cpc=CPC, w0_initial=30.0, hidden=16)
SURFACE = gen.ModulatedSiren(num_classes=K, cpc=CPC, w0_initial=30.0, hidden=16, noise_dim=2)
SHARES = ((0.5, 0.5, 0.0), (0.2, 0.3, 0.5), (1.0, 0.0, 0.0))  # 2, 3 and 1 parts


@pytest.mark.parametrize('synth', [
    synthetic.SirenSet(SIREN), synthetic.PartSirenSet(SIREN, SHARES),
    synthetic.SirenSet(SURFACE), synthetic.PartSirenSet(SURFACE, SHARES),
    synthetic.TensorSet(K, CPC, N)],
    ids=['siren', 'part_siren', 'siren_2d', 'part_siren_2d', 'tensor'])
def test_split_join_round_trip_and_class_points(synth):
  params = synth.init(jax.random.key(0))
  shared, parts = synth.split(params)
  assert parts.shape[:2] == (K, CPC)
  chex.assert_trees_all_equal(synth.join(shared, parts), params)
  noise = gen.sample_noise(jax.random.key(1), K * CPC, N, synth.noise_dim)
  everything = synth.generate(params, noise)
  chex.assert_shape(everything, (K * CPC, N, 3))
  for c in range(K):  # a class's own part generates exactly that class's clouds
    np.testing.assert_allclose(
        synth.class_points(shared, parts[c], noise[c * CPC:(c + 1) * CPC], c),
        everything[c * CPC:(c + 1) * CPC], atol=1e-6)


def test_part_siren_with_one_part_is_the_siren():
  """One part with the whole share: the row's one code and the noise unchanged."""
  part_set = synthetic.PartSirenSet(SIREN, ((1.0,),) * K)
  params = part_set.init(jax.random.key(0))
  noise = gen.sample_noise(jax.random.key(1), K * CPC, N)
  np.testing.assert_allclose(part_set.generate(params, noise),
                             synthetic.SirenSet(SIREN).generate(params, noise), atol=1e-6)


@pytest.mark.parametrize('module', [SIREN, SURFACE], ids=['curve', 'surface'])
def test_part_siren_draws_each_part_from_its_own_code_over_the_whole_noise_range(module):
  """The first noise value picks the part and is rescaled to the part's whole range; any
  other value passes as it is."""
  synth = synthetic.PartSirenSet(module, SHARES)
  params = synth.init(jax.random.key(0))
  noise = gen.sample_noise(jax.random.key(1), K * CPC, N, module.noise_dim)
  labels = gen.part_labels(noise[..., 0],
                           jnp.asarray(SHARES)[jnp.repeat(jnp.arange(K), CPC)])
  # the point of part j is the one-code generator of that part's code at the rescaled noise
  cloud, part = 2 * CPC - 1, 2  # class 1's second cloud, its part of share 0.5 from 0.5
  shared, rows = synth.split(params)
  u = jnp.concatenate([(noise[cloud, :, :1] - 0.5) / 0.5, noise[cloud, :, 1:]], axis=-1)
  alone = gen.generate_from_latents(module, shared, u[None], rows[1, 1, part][None])[0]
  mask = labels[cloud] == part
  assert 0 < mask.sum() < N
  np.testing.assert_allclose(synth.generate(params, noise)[cloud][mask], alone[mask], atol=1e-5)
  # and the points of a part move with their part's code only
  grads = jax.grad(lambda e: synth.generate({**params, 'embedding': e}, noise)[cloud][mask].sum()
                   )(params['embedding'])
  touched = np.flatnonzero(np.abs(np.asarray(grads)).sum(axis=1))
  assert touched.tolist() == [(cloud * 3) + part]


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
  targets = jnp.repeat(jnp.arange(K)[:, None], 4, axis=1)
  loss, grads = distill.matching_loss_and_grad(d, params, net, real, targets, weights, noise)

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
