"""DD3D for parts: per-part gradients, matching against a plain reference, BatchNorm trick."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import distill, distill_parts, matching, synthetic
from dd3d_jax import generator as gen
from dd3d_jax.models import make_segmenter
from dd3d_jax.tasks.segmentation import PartLayout, part_cross_entropy, synthetic_parts

K, CPC, N = 2, 2, 12
LAYOUT = PartLayout((0, 2), (2, 3), 5)          # class 0: parts 0-1; class 1: parts 2-4
PROPORTIONS = ((0.5, 0.5, 0.0), (0.2, 0.3, 0.5))


def tiny():
  module = gen.ModulatedSiren(num_classes=K, cpc=CPC, w0_initial=30.0, hidden=16)
  base = distill.Distiller(
      synthesizer=synthetic.SirenSet(module), network=make_segmenter(5, K), num_classes=K,
      cpc=CPC, batch_real=3, train_points=N, outer_loop=2, inner_loop=1, iterations=2,
      batch_syn=4)
  rng = np.random.default_rng(0)
  labels = np.array([0, 0, 0, 1, 1, 1, 1])
  points = rng.normal(size=(7, N, 3)).astype(np.float32)
  parts = np.where(labels[:, None] == 0, rng.integers(0, 2, (7, N)), rng.integers(2, 5, (7, N)))
  real = distill.make_real_data(points, labels, K, min_width=3, parts=parts)
  return distill_parts.PartDistiller(base, LAYOUT, PROPORTIONS, bn_clouds=4), real


def test_part_gradients_are_one_gradient_per_mask_and_ignore_other_points_labels():
  pd, real = tiny()
  seg = pd.base.network
  with jax.enable_x64(True):
    variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), seg.init(jax.random.key(0)))
    points = jnp.asarray(real.points[3:6], jnp.float64)
    labels, parts = jnp.ones(3, jnp.int32), real.parts[3:6]
    masks = distill_parts.part_masks(parts, 2, 3, per_part=True)          # [3, 3, N]
    apply = lambda p, x, y: seg.apply({**variables, 'params': p}, x, y)[0]  # noqa: E731
    got = distill_parts.part_gradients(apply, variables['params'], points, labels, parts, masks)
    for j in range(3):
      want = jax.grad(lambda p, m=masks[j]: part_cross_entropy(apply(p, points, labels), parts,
                                                               m))(variables['params'])
      chex.assert_trees_all_close(jax.tree.map(lambda g, j=j: g[j], got), want, rtol=1e-10)
    # Part 3's gradient does not see the labels of the other parts' points.
    relabelled = jnp.where(parts == 3, parts, 4)
    again = distill_parts.part_gradients(apply, variables['params'], points, labels, relabelled,
                                         distill_parts.part_masks(relabelled, 2, 3, True))
    chex.assert_trees_all_close(jax.tree.map(lambda g: g[1], again),
                                jax.tree.map(lambda g: g[1], got), rtol=1e-12)


@pytest.mark.parametrize('per_part', [pytest.param(False, marks=pytest.mark.slow), True])
def test_matching_equals_a_per_class_reference_in_inference_mode(per_part):
  pd, real = tiny()
  seg, synth = pd.base.network, pd.base.synthesizer
  with jax.enable_x64(True):
    f64 = functools.partial(jax.tree.map, lambda x: jnp.asarray(x, jnp.float64))
    gen_params = f64(synth.init(jax.random.key(1)))
    net_vars = f64(seg.init(jax.random.key(2)))
    points, parts, weights = distill_parts.real_batch(pd, jax.random.key(3), real, 3)
    points = f64(points)
    noise = jax.random.uniform(jax.random.key(4), (K, CPC, N, 1), jnp.float64)
    loss, grads = jax.jit(functools.partial(distill_parts.matching_loss_and_grad, pd,
                                            per_part=per_part))(
        gen_params, net_vars, points, parts, f64(weights), noise)

    def grad_of(p, x, y, t, mask, w=None):  # inference mode: the BatchNorm running statistics
      return jax.grad(lambda q: part_cross_entropy(
          seg.logits({**net_vars, 'params': q}, x, y), t, mask, w))(p)

    def reference(gp):
      total = 0.0
      for c in range(K):
        syn = synth.generate(gp, noise.reshape(K * CPC, N, 1))[c * CPC:(c + 1) * CPC]
        syn_parts = synthetic_parts(noise[c], jnp.full(CPC, c), LAYOUT, jnp.asarray(PROPORTIONS))
        ids = range(LAYOUT.offsets[c], LAYOUT.offsets[c] + LAYOUT.counts[c]) if per_part else [None]
        for i in ids:
          mask_r = jnp.ones(parts[c].shape) if i is None else parts[c] == i
          mask_s = jnp.ones(syn_parts.shape) if i is None else syn_parts == i
          g_real = grad_of(net_vars['params'], points[c], jnp.full(3, c), parts[c], mask_r,
                           weights[c])
          g_syn = grad_of(net_vars['params'], syn, jnp.full(CPC, c), syn_parts, mask_s)
          total += matching.match_distance(jax.lax.stop_gradient(g_real), g_syn)
      return total

    ref_loss, ref_grads = jax.jit(jax.value_and_grad(reference))(gen_params)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-10)
    chex.assert_trees_all_close(grads, ref_grads, rtol=1e-8, atol=1e-12)


def test_batch_statistics_are_the_running_average_of_real_clouds():
  pd, real = tiny()
  pd = pd._replace(bn_clouds=3)
  real = real._replace(class_index=real.class_index[:, :3], class_count=jnp.array([3, 3]))
  chosen = np.asarray(real.points)[[0, 1, 2, 3, 4, 5]]     # 3 clouds of each class: all used
  seg = pd.base.network
  variables = seg.init(jax.random.key(0))
  updated = distill_parts.set_batch_statistics(pd, variables, real, jax.random.key(5))
  chex.assert_trees_all_equal(updated['params'], variables['params'])
  # The first BatchNorm sees conv1 of those clouds; its running statistics move 0.1 of the
  # way from (0, 1) to theirs (momentum 0.1, as PyTorch's), and inference mode uses them.
  conv1 = variables['params']['net']['conv1']
  y = (chosen @ np.asarray(conv1['kernel']) + np.asarray(conv1['bias'])).reshape(-1, 64)
  stats = updated['batch_stats']['bn1']
  np.testing.assert_allclose(stats['mean'], 0.1 * y.mean(0), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(stats['var'], 0.9 + 0.1 * y.var(0), rtol=1e-4, atol=1e-6)
