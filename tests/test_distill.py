"""The distillation step: balanced sampling, class-chunked matching, tracing, determinism;
for part segmentation, per-part gradients against a plain reference and the BatchNorm trick."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import distill, geometry, models, rotator, synthetic
from dd3d_jax.objectives import gradient
from dd3d_jax import generator as gen
from dd3d_jax.rotator import IdentityRotator
from dd3d_jax.tasks.segmentation import (PartLayout, Segmentation, part_cross_entropy,
                                         part_masks, synthetic_parts)

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


def test_sample_real_draws_distinct_clouds_of_each_class():
  real, labels = tiny_real()
  for seed in range(5):
    pts, _, weights = distill.sample_real(jax.random.key(seed), None, real, 4,
                                          real.points.shape[1])
    chex.assert_shape((pts, weights), ((K, 4, 48, 3), (K, 4)))
    for c in range(K):
      n = min(4, int((labels == c).sum()))
      drawn = pts[c, :n]
      # Each drawn cloud is one of class c's clouds, and they are distinct.
      ids = [int(np.argmin(np.abs(np.asarray(real.points) - np.asarray(x)).sum((1, 2))))
             for x in drawn]
      assert all(labels[i] == c for i in ids) and len(set(ids)) == n
      np.testing.assert_allclose(weights[c], [1 / n] * n + [0] * (4 - n))


def test_sample_real_covers_the_class():
  real, labels = tiny_real()
  seen = set()
  for seed in range(30):
    pts = distill.sample_real(jax.random.key(seed), None, real, 4, real.points.shape[1])[0]
    seen |= {int(np.argmin(np.abs(np.asarray(real.points) - np.asarray(x)).sum((1, 2))))
             for x in pts[0]}
  assert seen == set(np.flatnonzero(labels == 0).tolist())


def float64_case(d):
  """Generator and network parameters, a real batch [K, 4, 48, 3] with its weights, noise
  and each class's count of real clouds, in float64 (call under `jax.enable_x64`)."""
  f64 = functools.partial(jax.tree.map, lambda x: jnp.asarray(x, jnp.float64))
  real, _ = tiny_real()
  points, _, weights = f64(distill.sample_real(jax.random.key(2), None, real, 4,
                                               real.points.shape[1]))
  return (f64(gen.init_params(d.synthesizer.module, jax.random.key(0))),
          f64(d.network.init(jax.random.key(1))), points, weights,
          jax.random.uniform(jax.random.key(3), (K, CPC, P, 1), jnp.float64),
          [int((weights[c] > 0).sum()) for c in range(K)])


# Chunks 1 (a loop) and 0 (one vmap) are the CPU's and the accelerators' defaults, checked
# against one reference: the fast suite checks the CPU's (tests/test_gpu.py compares the two
# on a method's step), the slow suite also 0 and 2 (lax.map's batch_size, the same code with
# a chunked loop).
@pytest.mark.parametrize('chunks', [(1,), pytest.param((0, 2), marks=pytest.mark.slow)])
def test_chunked_matching_equals_per_class_reference(chunks):
  # float64: the comparison is exact up to summation order (float32 GM gradients are
  # ill-conditioned, see tests/test_official_parity.py).
  with jax.enable_x64(True):
    d = tiny_distiller()
    gen_params, net_params, points, weights, noise, counts = float64_case(d)

    # The arrays are arguments, not constants of the program: XLA would fold the real
    # side's network into constants at compile time.
    def reference(gp, net_params, points, noise):  # the plain sum over classes of GM's loss
      total = 0.0
      for c, n in enumerate(counts):
        total += gradient.gm_loss(
            gp, net_params, points[c, :n], jnp.full(n, c), noise[c],
            jnp.arange(c * CPC, (c + 1) * CPC), jnp.full(CPC, c),
            gen_apply=functools.partial(gen.generate, d.synthesizer.module),
            net_apply=d.network.logits)
      return total

    ref_loss, ref_grads = jax.jit(jax.value_and_grad(reference))(gen_params, net_params,
                                                                  points, noise)
    for chunk in chunks:
      loss, grads = jax.jit(functools.partial(
          distill.matching_loss_and_grad, d._replace(class_chunk=chunk)))(
              gen_params, net_params, points, jnp.repeat(jnp.arange(K)[:, None], 4, 1),
              weights, noise)
      np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-10)
      chex.assert_trees_all_close(grads, ref_grads, rtol=1e-8, atol=1e-10)


def test_augmented_matching_augments_each_class_alike_on_both_sides():
  """`augment_key`: class c's real batch and synthetic clouds under one draw of
  `geometry.augment_together(fold_in(key, c), ...)` (with the turn about the up axis and
  point dropout), the gradient taken through it."""
  with jax.enable_x64(True):
    d = tiny_distiller(class_chunk=0, augment_up=True, augment_dropout=0.5)
    gen_params, net_params, points, weights, noise, counts = float64_case(d)
    key = jax.random.key(4)

    def reference(gp, net_params, points, noise):
      total = 0.0
      for c, n in enumerate(counts):
        k_c = jax.random.fold_in(key, c)
        alike = functools.partial(geometry.augment_together, k_c, points[c], up=True,
                                  dropout=0.5)
        total += gradient.gm_loss(
            gp, net_params, alike(jnp.zeros((CPC, P, 3)))[0][:n], jnp.full(n, c), noise[c],
            jnp.arange(c * CPC, (c + 1) * CPC), jnp.full(CPC, c),
            gen_apply=lambda *a: alike(gen.generate(d.synthesizer.module, *a))[1],
            net_apply=d.network.logits)
      return total

    ref_loss, ref_grads = jax.jit(jax.value_and_grad(reference))(gen_params, net_params,
                                                                  points, noise)
    matched = jax.jit(functools.partial(distill.matching_loss_and_grad, d))
    targets = jnp.repeat(jnp.arange(K)[:, None], 4, 1)
    loss, grads = matched(gen_params, net_params, points, targets, weights, noise,
                          augment_key=key)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-10)
    chex.assert_trees_all_close(grads, ref_grads, rtol=1e-8, atol=1e-10)
    other, _ = matched(gen_params, net_params, points, targets, weights, noise,
                       augment_key=jax.random.key(5))  # the same program, another draw
    assert abs(float(other) - float(loss)) > 1e-6 * abs(float(other))  # it does augment


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


def test_labelled_set_is_normalised_at_any_resolution_and_labelled_by_class():
  d = tiny_distiller()
  params = gen.init_params(d.synthesizer.module, jax.random.key(0))
  for n in (16, 100):
    pts, targets = distill.labelled_set(d, params, jax.random.key(1), n)
    np.testing.assert_array_equal(targets, np.repeat(np.arange(K), CPC))
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


# Part segmentation: the task's groups (one per part) and BatchNorm trick.

PK, PCPC, PN = 2, 2, 12
LAYOUT = PartLayout((0, 2), (2, 3), 5)          # class 0: parts 0-1; class 1: parts 2-4
PROPORTIONS = ((0.5, 0.5, 0.0), (0.2, 0.3, 0.5))


def tiny_parts():
  """A part-segmentation distiller (the task's BatchNorm trick and per-part groups) and
  real clouds of 2 classes with their part ids."""
  module = gen.ModulatedSiren(num_classes=PK, cpc=PCPC, w0_initial=30.0, hidden=16)
  task = Segmentation(LAYOUT, PROPORTIONS)
  d = distill.Distiller(
      synthesizer=synthetic.SirenSet(module), network=task.network('pointnet', IdentityRotator()),
      num_classes=PK, cpc=PCPC, batch_real=3, train_points=PN, outer_loop=2, inner_loop=1,
      iterations=2, batch_syn=4, task=task, bn_clouds=4)
  rng = np.random.default_rng(0)
  labels = np.array([0, 0, 0, 1, 1, 1, 1])
  points = rng.normal(size=(7, PN, 3)).astype(np.float32)
  parts = np.where(labels[:, None] == 0, rng.integers(0, 2, (7, PN)),
                   rng.integers(2, 5, (7, PN)))
  real = distill.make_real_data(points, labels, PK, min_width=3, targets=parts)
  return d, real


def test_group_gradients_are_one_gradient_per_mask_and_ignore_other_points_labels():
  d, real = tiny_parts()
  seg = d.network
  with jax.enable_x64(True):
    variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), seg.init(jax.random.key(0)))
    points = jnp.asarray(real.points[3:6], jnp.float64)
    labels, parts = jnp.ones(3, jnp.int32), real.targets[3:6]
    masks = part_masks(parts, 2, 3)                                       # [3, 3, N]
    applier = lambda v: lambda p, x, y: seg.apply({**v, 'params': p}, x, y)[0]  # noqa: E731

    @jax.jit  # jitted, with the arrays as arguments (op by op, it took three times as long)
    def groups(v, points, labels, parts, masks):
      return gradient.group_gradients(applier(v), d.task, v['params'], points, labels, parts,
                                      masks)

    @jax.jit
    def one(v, points, labels, parts, mask):  # the plain gradient of one part's loss
      return jax.grad(lambda p: part_cross_entropy(applier(v)(p, points, labels), parts,
                                                   mask))(v['params'])

    got = groups(variables, points, labels, parts, masks)
    for j in range(3):
      want = one(variables, points, labels, parts, masks[j])
      chex.assert_trees_all_close(jax.tree.map(lambda g, j=j: g[j], got), want, rtol=1e-10)
    # Part 3's gradient does not see the labels of the other parts' points.
    relabelled = jnp.where(parts == 3, parts, 4)
    again = groups(variables, points, labels, relabelled, part_masks(relabelled, 2, 3))
    chex.assert_trees_all_close(jax.tree.map(lambda g: g[1], again),
                                jax.tree.map(lambda g: g[1], got), rtol=1e-12)


@pytest.mark.parametrize('per_part', [pytest.param(False, marks=pytest.mark.slow), True])
def test_group_matching_equals_a_per_class_reference_in_inference_mode(per_part):
  d, real = tiny_parts()
  seg, synth = d.network, d.synthesizer
  with jax.enable_x64(True):
    f64 = functools.partial(jax.tree.map, lambda x: jnp.asarray(x, jnp.float64))
    gen_params = f64(synth.init(jax.random.key(1)))
    net_vars = f64(seg.init(jax.random.key(2)))
    points, parts, weights = distill.real_batch(d, jax.random.key(3), real)
    points = f64(points)
    noise = jax.random.uniform(jax.random.key(4), (PK, PCPC, PN, 1), jnp.float64)
    loss, grads = jax.jit(functools.partial(distill.matching_loss_and_grad, d,
                                            per_group=per_part))(
        gen_params, net_vars, points, parts, f64(weights), noise)

    def reference(gp, net_vars, points, parts, weights, noise):  # arguments, not constants

      def grad_of(p, x, y, t, mask, w=None):  # inference mode: BatchNorm's running statistics
        return jax.grad(lambda q: part_cross_entropy(
            seg.logits({**net_vars, 'params': q}, x, y), t, mask, w))(p)

      total = 0.0
      for c in range(PK):
        syn = synth.generate(gp, noise.reshape(PK * PCPC, PN, 1))[c * PCPC:(c + 1) * PCPC]
        syn_parts = synthetic_parts(noise[c], jnp.full(PCPC, c), LAYOUT,
                                    jnp.asarray(PROPORTIONS))
        ids = range(LAYOUT.offsets[c], LAYOUT.offsets[c] + LAYOUT.counts[c]) if per_part else [None]
        for i in ids:
          mask_r = jnp.ones(parts[c].shape) if i is None else parts[c] == i
          mask_s = jnp.ones(syn_parts.shape) if i is None else syn_parts == i
          g_real = grad_of(net_vars['params'], points[c], jnp.full(3, c), parts[c], mask_r,
                           weights[c])
          g_syn = grad_of(net_vars['params'], syn, jnp.full(PCPC, c), syn_parts, mask_s)
          total += gradient.match_distance(jax.lax.stop_gradient(g_real), g_syn)
      return total

    ref_loss, ref_grads = jax.jit(jax.value_and_grad(reference))(
        gen_params, net_vars, points, parts, f64(weights), noise)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-10)
    chex.assert_trees_all_close(grads, ref_grads, rtol=1e-8, atol=1e-12)


def test_batch_statistics_are_the_running_average_of_real_clouds():
  d, real = tiny_parts()
  d = d._replace(bn_clouds=3)
  real = real._replace(class_index=real.class_index[:, :3], class_count=jnp.array([3, 3]))
  chosen = np.asarray(real.points)[[0, 1, 2, 3, 4, 5]]     # 3 clouds of each class: all used
  seg = d.network
  variables = seg.init(jax.random.key(0))
  updated = distill.set_batch_statistics(d, variables, real, jax.random.key(5))
  chex.assert_trees_all_equal(updated['params'], variables['params'])
  # The first BatchNorm sees conv1 of those clouds; its running statistics move 0.1 of the
  # way from (0, 1) to theirs (momentum 0.1, as PyTorch's), and inference mode uses them.
  conv1 = variables['params']['net']['conv1']
  y = (chosen @ np.asarray(conv1['kernel']) + np.asarray(conv1['bias'])).reshape(-1, 64)
  stats = updated['batch_stats']['bn1']
  np.testing.assert_allclose(stats['mean'], 0.1 * y.mean(0), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(stats['var'], 0.9 + 0.1 * y.var(0), rtol=1e-4, atol=1e-6)
