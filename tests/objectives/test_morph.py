"""3DDP's objective against a NumPy transcription of its released training step."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dd3d_jax.objectives import morph


def fps_reference(pc):
  """pointops.furthestsampling of all of a cloud's points: its FPS order from point 0."""
  order, dist = [0], np.full(len(pc), np.inf)
  for _ in range(len(pc) - 1):
    dist = np.minimum(dist, ((pc - pc[order[-1]]) ** 2).sum(-1))
    order.append(int(np.argmax(dist)))
  return pc[order]


def uniformity_reference(pc, k=16):
  """pc_ops.get_uniformity_score of one cloud [N, 3]."""
  d2 = ((pc[:, None] - pc[None]) ** 2).sum(-1)
  near = pc[np.argsort(d2, axis=1, kind='stable')[:, :k]]          # [N, k, 3]
  d = np.linalg.norm(near - near[:, :1], axis=-1)
  return (d.std(axis=1, ddof=1) / (d.mean(axis=1) + 1e-8)).mean()


def m3d_reference(x, y):
  """losses.M3DLoss: MMD with RBF(n_kernels=5, mul_factor=2)."""
  z = np.vstack([x, y])
  d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
  bw = d2.sum() / (len(z) ** 2 - len(z))
  k = sum(np.exp(-d2 / (bw * m)) for m in 2.0 ** (np.arange(5) - 2))
  n = len(x)
  return k[:n, :n].mean() - 2 * k[:n, n:].mean() + k[n:, n:].mean()


def softmax(a):
  e = np.exp(a - a.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def class_loss_reference(real, anchors, alpha, features, samples, npoints):
  """One class's `loss1 / 10` of scripts/train.py (fReshape_nodup), with `features(x)`
  ([B, N, 3] -> [B, N, C]) for the network's `x_m` (channels last here).

  real: [B, N, 3]; anchors: [ipc, samples * npoints, 3]; alpha: [ipc * num_morph, samples].
  """
  b = len(real)
  tmp = np.stack([fps_reference(pc) for pc in real])
  div = []
  for _ in range(samples):
    div.append(tmp[:, :npoints])
    tmp = tmp[:, npoints:]
    if tmp.shape[1] > 0:
      tmp = np.stack([fps_reference(pc) for pc in tmp])
  div = np.concatenate(div)                                          # [samples * B, P, 3]
  sorted_real = -np.sort(-np.abs(features(div)), axis=1)
  u_div = np.array([uniformity_reference(pc) for pc in div]).reshape(samples, -1).mean(-1)
  u_real = np.mean([uniformity_reference(pc) for pc in real])
  penalty = np.exp(-1000 * (u_div - u_real) ** 2)
  ipc, num_morph = len(anchors), len(alpha) // len(anchors)
  split = [ch for a in anchors for ch in np.split(a, samples)]
  for i in range(ipc):
    w = softmax(alpha[i * num_morph:(i + 1) * num_morph])[:, :, None, None]
    split += list((np.stack(split[samples * i:samples * (i + 1)])[None] * w).sum(1))
  syn = np.stack(split)
  sorted_syn = -np.sort(-np.abs(features(syn)), axis=1)
  flat_real, flat_syn = sorted_real.reshape(len(div), -1), sorted_syn.reshape(len(syn), -1)
  loss1 = sum(m3d_reference(flat_real[n * b:(n + 1) * b], flat_syn)
              * penalty[n] * 0.2 * 4 / penalty.sum() for n in range(samples))
  return loss1 / 10


def problem(seed, b=3, n=40, ipc=2, samples=3, npoints=9, num_morph=5, c=6):
  rng = np.random.default_rng(seed)
  real = rng.normal(size=(b, n, 3))
  anchors = rng.normal(size=(ipc, samples * npoints, 3))
  alpha = rng.normal(size=(ipc * num_morph, samples))
  w1, w2 = rng.normal(size=(3, c)), rng.normal(size=(c, c))
  return real, anchors, alpha, (w1, w2)


def features_np(w):
  return lambda x: np.tanh(x @ w[0]) @ w[1]


@functools.partial(jax.jit, static_argnums=(4, 5))
def loss_jax(real, anchors, alpha, w, samples, npoints, mask=None):
  ipc, num_morph = len(anchors), len(alpha) // len(anchors)
  features = lambda x: jnp.tanh(x @ w[0]) @ w[1]  # noqa: E731
  parts = jnp.swapaxes(morph.fps_partition(real, samples, npoints), 0, 1)   # [S, B, P, 3]
  mask = jnp.ones(len(real)) if mask is None else mask
  weights = morph.uniformity_weights(parts, real, mask, 1000.0)
  syn = morph.synthetic_clouds(anchors.reshape(ipc, samples, npoints, 3),
                               alpha.reshape(ipc, num_morph, samples))
  return morph.morph_loss(features(parts), features(syn), weights, mask)


def test_matches_the_released_training_step_in_float64():
  """Partitions, uniformity weights, morphs and the per-partition MMD, end to end, agree
  with the transcription to 1e-10 relative (float64); a padded real cloud (mask 0) counts
  as absent."""
  for seed, keep in ((0, [1, 1, 1, 1]), (1, [1, 0, 1, 1])):
    real, anchors, alpha, w = problem(seed, b=4)
    keep = np.array(keep, bool)
    want = class_loss_reference(real[keep], anchors, alpha, features_np(w), 3, 9)
    with jax.enable_x64(True):
      got = float(loss_jax(*(jnp.asarray(a) for a in (real, anchors, alpha)),
                           tuple(jnp.asarray(x) for x in w), 3, 9, jnp.asarray(keep, float)))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_partitions_are_disjoint_and_cover_the_first_points_of_the_fps_order():
  pc = np.random.default_rng(5).normal(size=(30, 3)).astype(np.float32)
  parts = np.asarray(morph.fps_partition(jnp.asarray(pc), 3, 8))
  assert parts.shape == (3, 8, 3)
  flat = parts.reshape(-1, 3)
  assert len(np.unique(flat, axis=0)) == 24 and all((pc == p).all(-1).any() for p in flat)
  np.testing.assert_allclose(parts[0], fps_reference(pc)[:8], rtol=1e-6)


def test_a_one_hot_morph_is_its_chunk_and_morphs_stay_in_the_chunks_hull():
  chunks = jnp.asarray(np.random.default_rng(6).normal(size=(3, 5, 3)), jnp.float32)
  one_hot = jnp.array([[0.0, 60.0, 0.0]])
  np.testing.assert_allclose(morph.morph(chunks, one_hot)[0], chunks[1], atol=1e-5)
  mixed = morph.morph(chunks, jnp.asarray(np.random.default_rng(7).normal(size=(4, 3))))
  assert (mixed <= chunks.max(0) + 1e-6).all() and (mixed >= chunks.min(0) - 1e-6).all()


def test_uniformity_is_lower_on_a_regular_grid_than_on_random_points():
  grid = np.stack(np.meshgrid(*[np.arange(6.0)] * 3), -1).reshape(-1, 3)
  scattered = np.random.default_rng(9).uniform(0, 5, size=grid.shape)
  score = lambda pc: float(morph.uniformity(jnp.asarray(pc)))  # noqa: E731
  assert score(grid) < score(scattered)
  np.testing.assert_allclose(score(scattered), uniformity_reference(scattered), rtol=1e-5)
