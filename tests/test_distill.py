"""The distillation step: balanced sampling, class-chunked matching, tracing, determinism."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import distill, matching, models, rotator, synthetic
from dd3d_jax import generator as gen

K, CPC, P = 3, 2, 32


def tiny_distiller(**kw):
  module = gen.ModulatedSiren(num_classes=K, cpc=CPC, w0_initial=30.0, hidden=32)
  defaults = dict(synthesizer=synthetic.SirenSet(module),
                  network=models.make_network('pointnet', K, rotator.SignRotator()),
                  num_classes=K, cpc=CPC, batch_real=4, train_points=P, outer_loop=2,
                  inner_loop=1, iterations=4, class_chunk=1)
  return distill.Distiller(**{**defaults, **kw})


def tiny_real(counts=(6, 5, 2)):
  labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
  points = np.random.default_rng(0).normal(size=(len(labels), 48, 3)).astype(np.float32)
  points *= (1 + labels)[:, None, None]
  return distill.make_real_data(points, labels, K, min_width=4), labels


def test_class_balanced_batch_draws_distinct_clouds_of_each_class():
  real, labels = tiny_real()
  for seed in range(5):
    pts, weights = distill.class_balanced_batch(jax.random.key(seed), real, 4)
    chex.assert_shape((pts, weights), ((K, 4, 48, 3), (K, 4)))
    for c in range(K):
      n = min(4, int((labels == c).sum()))
      drawn = pts[c, :n]
      # Each drawn cloud is one of class c's clouds, and they are distinct.
      ids = [int(np.argmin(np.abs(np.asarray(real.points) - np.asarray(x)).sum((1, 2))))
             for x in drawn]
      assert all(labels[i] == c for i in ids) and len(set(ids)) == n
      np.testing.assert_allclose(weights[c], [1 / n] * n + [0] * (4 - n))


def test_class_balanced_batch_covers_the_class():
  real, labels = tiny_real()
  seen = set()
  for seed in range(30):
    pts, _ = distill.class_balanced_batch(jax.random.key(seed), real, 4)
    seen |= {int(np.argmin(np.abs(np.asarray(real.points) - np.asarray(x)).sum((1, 2))))
             for x in pts[0]}
  assert seen == set(np.flatnonzero(labels == 0).tolist())


# Chunks 0 (one vmap) and 1 (a loop) are the backends' defaults, checked against one
# reference; 2 (lax.map's batch_size) is the same code with a chunked loop.
@pytest.mark.parametrize('chunks', [(0, 1), pytest.param((2,), marks=pytest.mark.slow)])
def test_chunked_matching_equals_per_class_reference(chunks):
  # float64: the comparison is exact up to summation order (float32 GM gradients are
  # ill-conditioned, see tests/test_official_parity.py).
  with jax.enable_x64(True):
    d = tiny_distiller()
    f64 = functools.partial(jax.tree.map, lambda x: jnp.asarray(x, jnp.float64))
    gen_params = f64(gen.init_params(d.synthesizer.module, jax.random.key(0)))
    net_params = f64(d.network.init(jax.random.key(1)))
    real, _ = tiny_real()
    points, weights = f64(distill.class_balanced_batch(jax.random.key(2), real, 4))
    noise = jax.random.uniform(jax.random.key(3), (K, CPC, P, 1), jnp.float64)
    counts = [int((weights[c] > 0).sum()) for c in range(K)]

    def reference(gp):  # plain sum over classes of the GM loss on full generator params
      total = 0.0
      for c, n in enumerate(counts):
        total += matching.gm_loss(
            gp, net_params, points[c, :n], jnp.full(n, c), noise[c],
            jnp.arange(c * CPC, (c + 1) * CPC), jnp.full(CPC, c),
            gen_apply=functools.partial(gen.generate, d.synthesizer.module),
            net_apply=d.network.logits)
      return total

    ref_loss, ref_grads = jax.jit(jax.value_and_grad(reference))(gen_params)
    for chunk in chunks:
      loss, grads = jax.jit(functools.partial(
          distill.matching_loss_and_grad, d._replace(class_chunk=chunk)))(
              gen_params, net_params, points, weights, noise)
      np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-10)
      chex.assert_trees_all_close(grads, ref_grads, rtol=1e-8, atol=1e-10)


def test_iteration_compiles_once_and_is_deterministic():
  d = tiny_distiller()
  real, _ = tiny_real()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(state, real):
    return distill.iteration(d, state, real)

  a = distill.init_state(d, jax.random.key(0))
  for _ in range(3):
    a, metrics = step(a, real)
    assert np.isfinite(float(metrics['loss']))
  assert int(a.iteration) == 3
  b = distill.init_state(d, jax.random.key(0))
  for _ in range(3):
    b, _ = step(b, real)
  chex.assert_trees_all_equal(a.gen_params, b.gen_params)
  c = distill.init_state(d, jax.random.key(1))
  c, _ = step(c, real)
  assert not np.allclose(c.gen_params['embedding'], a.gen_params['embedding'])


def test_generate_set_is_normalised_at_any_resolution():
  d = tiny_distiller()
  params = gen.init_params(d.synthesizer.module, jax.random.key(0))
  for n in (16, 100):
    pts = distill.generate_set(d, params, jax.random.key(1), n)
    chex.assert_shape(pts, (K * CPC, n, 3))
    np.testing.assert_allclose(np.asarray(pts.mean(1)), 0, atol=1e-5)
    assert float(jnp.linalg.norm(pts, axis=-1).max()) < 1.0


def test_generator_learning_rate_steps_at_half_the_iterations():
  d = tiny_distiller(iterations=10, outer_loop=3)
  tx = d.generator_optimizer()
  params = {'w': jnp.zeros(2)}
  state = tx.init(params)
  sizes = []
  for _ in range(30):  # 10 iterations x 3 outer steps
    updates, state = tx.update({'w': jnp.ones(2)}, state, params)
    sizes.append(float(jnp.abs(updates['w'][0])))
  assert sizes[14] == pytest.approx(1e-3, rel=1e-3) and sizes[15] == pytest.approx(1e-4, rel=1e-3)
