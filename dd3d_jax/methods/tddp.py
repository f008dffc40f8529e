"""`tddp`: 3DDP, learnable shape morphing of low-resolution anchors (Kim, Yim et al.,
ICLR 2026), after `scripts/train.py`, `ops/pc_ops.py` and `configs/default.yaml` of
yimjae0/3DDP (commit b7d8dde).

A class's cpc anchors each hold S chunks of P points: S real clouds (the random coreset's
picks with the same distillation index, cpc * S per class, or PCC's `feature_mean` start),
each cut to P points by farthest point sampling, points matched to the first chunk's by a
minimum-cost assignment (the reference's `emd_align_and_merge`), so that point p of every
chunk corresponds. Each anchor also has M morphs, softmax(alpha)-weighted sums of its
chunks (alpha [M, S] from N(0, 1)). The class's training clouds are its cpc * S chunks and
cpc * M morphs, P points each: what is stored is cpc * (S * P * 3 + M * S) numbers per
class, what is trained on and exported is cpc * (S + M) clouds.

Each iteration draws a fresh untrained original PointNet (`models.pointnet_tnet`, BatchNorm
statistics from 8 real clouds per class, then frozen, as SADM) and, for every class,
compares `batch_real` real clouds, each split into S FPS partitions of P points, with the
class's clouds by 3DDP's objective (`objectives.morph`: the per-partition MMD of sorted
point-wise features, weighted by the partitions' uniformity), summed over classes. SGD
with momentum 0.5 updates the points (lr 100, the reference's for cpc <= 10; it uses
10 * cpc above) and the mixing logits (`lr_alpha` 10).

The storage rule: P = (train_points - ceil(M / S) * S) / S, so the anchors and the mixing
weights together store about what one cloud of `train_points` points does: at 1,024
points the reference's 255 points and 4 morphs (ModelNet40, ShapeNet, ScanObjectNN) or 252
and 16 (ModelNet10); S is 4 (1,024 // 255). Settings: `chunks` (S, 4), `morphs` (M, 4),
`uniformity_lambda` (1,000), `iterations` (2,000), `lr`, `lr_alpha`, `momentum`,
`batch_real` (8), `init`. Shape classification only: the released code has no part
segmentation (the paper's ShapeNet-part number has no code to follow).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.optimize import linear_sum_assignment

from dd3d_jax import devices, distill, fields, geometry, resources, training
from dd3d_jax.errors import ConfigError
from dd3d_jax.methods import SmallSet
from dd3d_jax.methods._matching import INITS, real_clouds
from dd3d_jax.methods.sadm import fresh_network, real_batch
from dd3d_jax.models import pointnet_tnet
from dd3d_jax.objectives import morph
from dd3d_jax.ops.sampling import farthest_point_sampling


def chunk_points(train_points: int, chunks: int, morphs: int) -> int:
  """P of the storage rule: (train_points - ceil(morphs / chunks) * chunks) // chunks."""
  return (train_points - math.ceil(morphs / chunks) * chunks) // chunks


def align_to_first(chunks: np.ndarray) -> np.ndarray:
  """Each chunk's points reordered to match the first chunk's by a minimum-cost
  assignment of Euclidean distances (scipy's Hungarian solver, as the reference).
  [S, P, 3] -> [S, P, 3], chunk 0 unchanged."""
  chunks = np.asarray(chunks, np.float64)
  ref = chunks[0]
  out = [ref]
  for c in chunks[1:]:
    cost = np.linalg.norm(ref[:, None] - c[None], axis=-1)
    _, cols = linear_sum_assignment(cost)
    out.append(c[cols])
  return np.stack(out).astype(np.float32)


def anchors_from(clouds: np.ndarray, chunks: int, points: int) -> np.ndarray:
  """Anchors from real clouds: each cloud FPS-cut to `points` points, consecutive groups
  of `chunks` clouds aligned to their first. clouds: [A * chunks, N, 3] -> [A, chunks,
  points, 3]."""
  cut = np.take_along_axis(clouds, np.asarray(
      farthest_point_sampling(jnp.asarray(clouds), points))[..., None], axis=1)
  groups = cut.reshape(-1, chunks, points, 3)
  return np.stack([align_to_first(g) for g in groups])


@dataclasses.dataclass(frozen=True)
class TDDP:
  """3DDP; see the module docstring. Hashable (the runner's jitted step is static in it)."""
  net: nn.Module
  num_classes: int
  cpc: int
  chunks: int
  morphs: int
  chunk_points: int
  train_points: int
  batch_real: int
  iterations: int
  lr: float
  lr_alpha: float
  momentum: float
  uniformity_lambda: float
  class_chunk: int
  mesh: Any = None
  initial: Any = dataclasses.field(compare=False, hash=False, default=None)
  writes_set = True

  @property
  def num_steps(self) -> int:
    return self.iterations

  @property
  def clouds_per_class(self) -> int:
    """Clouds per class that it trains on and exports: chunks and morphs."""
    return self.cpc * (self.chunks + self.morphs)

  @property
  def resolution(self) -> int:
    """Points per exported cloud (P)."""
    return self.chunk_points

  def tx(self) -> optax.GradientTransformation:
    return training.per_key({'anchors': optax.sgd(self.lr, momentum=self.momentum),
                             'alpha': optax.sgd(self.lr_alpha, momentum=self.momentum)})

  def init(self, key: jax.Array, real: distill.RealData) -> distill.DistillState:
    """{'anchors': [K * cpc, S, P, 3] from `initial(key)`, 'alpha': [K * cpc, M, S]}."""
    del real
    params = {'anchors': jnp.asarray(self.initial(key)),
              'alpha': jax.random.normal(jax.random.fold_in(key, 3),
                                         (self.num_classes * self.cpc, self.morphs, self.chunks))}
    return distill.DistillState.start(params, self.tx(), jax.random.fold_in(key, 2))

  def clouds(self, params: Any) -> jax.Array:
    """Every class's chunks then morphs: [K, cpc * (S + M), P, 3]."""
    anchors = params['anchors'].reshape(self.num_classes, self.cpc, self.chunks,
                                        self.chunk_points, 3)
    alpha = params['alpha'].reshape(self.num_classes, self.cpc, self.morphs, self.chunks)
    return jax.vmap(morph.synthetic_clouds)(anchors, alpha)

  def loss(self, params: Any, variables: Any, partitions: jax.Array, weights: jax.Array,
           mask: jax.Array) -> jax.Array:
    """Summed 3DDP loss over classes. partitions: [K, S, B, P, 3] real; weights: [K, S]
    the partitions' uniformity weights; mask: [K, B]."""
    def features(x):
      return self.net.apply(variables, x, train=False, method=self.net.features)[0]

    def one(xs):
      syn_c, parts_c, weights_c, mask_c = xs
      real_pw = jax.lax.stop_gradient(features(parts_c.reshape(-1, *parts_c.shape[2:])))
      real_pw = real_pw.reshape(*parts_c.shape[:2], *real_pw.shape[1:])
      return morph.morph_loss(real_pw, features(syn_c), weights_c, mask_c)

    return distill.map_classes(one, (self.clouds(params), partitions, weights, mask),
                               self.class_chunk, self.mesh).sum()

  def step(self, state: distill.DistillState,
           real: distill.RealData) -> tuple[distill.DistillState, dict]:
    k_net, k_real = jax.random.split(state.step_key())
    variables = fresh_network(self.net, k_net, real, self.train_points)
    batch, mask = real_batch(k_real, real, self.batch_real, self.train_points)  # [K, B, N, 3]
    partitions = morph.fps_partition(batch, self.chunks, self.chunk_points)   # [K, B, S, P, 3]
    partitions = jnp.swapaxes(partitions, 1, 2)
    weights = jax.vmap(lambda p, b, m: morph.uniformity_weights(p, b, m > 0,
                                                                self.uniformity_lambda))(
        partitions, batch, mask)
    loss, grads = jax.value_and_grad(self.loss)(state.gen_params, variables, partitions,
                                                weights, mask > 0)
    updates, opt_state = self.tx().update(grads, state.opt_state, state.gen_params)
    return (state.replace(gen_params=optax.apply_updates(state.gen_params, updates),
                          opt_state=opt_state, iteration=state.iteration + 1),
            {'loss': loss / self.num_classes})

  def export(self, state: distill.DistillState, key: jax.Array, num_points: int) -> SmallSet:
    """The chunks and morphs at their own P points (whatever `num_points`), each
    renormalised to the unit sphere, class-major."""
    del key, num_points
    clouds = self.clouds(state.gen_params).reshape(-1, self.chunk_points, 3)
    points = np.asarray(geometry.normalize_to_unit_sphere(clouds), np.float32)
    labels = np.repeat(np.arange(self.num_classes, dtype=np.int32), self.clouds_per_class)
    return SmallSet(points, labels, labels)


DEFAULTS = {'init': 'random', 'iterations': 2000, 'lr': 100.0, 'lr_alpha': 10.0,
            'momentum': 0.5, 'batch_real': 8, 'chunks': 4, 'morphs': 4,
            'uniformity_lambda': 1000.0}
FIELDS = {'init': fields.choice(*INITS), 'iterations': fields.integer(0),
          'lr': fields.POSITIVE, 'lr_alpha': fields.POSITIVE,
          'momentum': fields.number(0, below=1), 'batch_real': fields.integer(1),
          'chunks': fields.integer(1), 'morphs': fields.integer(1),
          'uniformity_lambda': fields.NON_NEGATIVE}


def check(settings, config, where: str) -> None:
  """The storage rule leaves each chunk at least 2 points."""
  del config
  p = chunk_points(settings.train_points, settings.chunks, settings.morphs)
  if p < 2:
    raise ConfigError(
        f'{where}: {settings.chunks} chunks and {settings.morphs} morphs leave {max(p, 0)} '
        f'points per chunk of a {settings.train_points}-point budget (distill.train_points); '
        f'lower {where}.chunks or {where}.morphs, or raise distill.train_points.')


def memory(settings, num_classes: int, cpc: int) -> int:
  """A step differentiates through a class chunk's chunks and morphs."""
  chunk = devices.resolve_class_chunk(settings.class_chunk)
  classes = num_classes if chunk == 0 else min(chunk, num_classes)
  p = chunk_points(settings.train_points, settings.chunks, settings.morphs)
  return resources.activation_bytes(classes * cpc * (settings.chunks + settings.morphs), p)


def from_config(settings, context) -> TDDP:
  k, s, m = context.dataset.num_classes, settings.chunks, settings.morphs
  p = chunk_points(settings.train_points, s, m)
  resolution = context.dataset.train.points.shape[1]

  def initial(key):
    clouds = real_clouds(key, context, resolution, init=settings.init,
                         per_class=context.cpc * s)
    return anchors_from(clouds, s, p)

  return TDDP(net=pointnet_tnet.make(k), num_classes=k, cpc=context.cpc, chunks=s, morphs=m,
              chunk_points=p, train_points=settings.train_points,
              batch_real=min(settings.batch_real, len(context.dataset.train)),
              iterations=settings.iterations, lr=settings.lr, lr_alpha=settings.lr_alpha,
              momentum=settings.momentum, uniformity_lambda=settings.uniformity_lambda,
              class_chunk=devices.resolve_class_chunk(settings.class_chunk),
              mesh=context.mesh, initial=initial)
