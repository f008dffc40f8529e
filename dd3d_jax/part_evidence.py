"""Evidence for part segmentation: where a generator's parts go while it is distilled,
and what the evaluation network makes of parts that are right but coarse.

    python -m dd3d_jax.part_evidence --config=configs/shapes_parts.py --out=runs/evidence.json
    python -m dd3d_jax.part_evidence --config=configs/shapes_parts.py \
        --config.methods.dd3d.part_latents=True --out=runs/evidence_part_latents.json

Builds `--method` (default `dd3d`) as the pipeline does, from the keys of its distillation
0, and distils it in this process for `distill.iterations` iterations. After each one it
draws the set at `train_points` and compares every synthetic cloud with the real cloud of
its class nearest to it part by part, among `--pool` real clouds per class cut to
`train_points` as distillation sees them:

- `part_chamfer`: the Chamfer distance in which a point only meets points of its own part;
- `shape_chamfer`: the same blind to the parts (the shape alone);
- `wrong_part`: the share of synthetic points whose nearest real point is of another part.

Before the first iteration and after the last, on `--networks` fresh networks whose
BatchNorm statistics are frozen from real clouds as distillation freezes them:

- `conflict`: the cosine between the generator's gradients of the whole-shape matching loss
  and of the per-part one (the even and odd outer steps; below 0 they pull apart);
- `bn_scale`: how far the frozen statistics are from normalising real clouds: the standard
  deviation of a real batch over the one the frozen statistics divide by, mean over the
  channels of every BatchNorm layer (1: normalised; the reference's single pass with
  momentum 0.1 keeps 90 % of the initial variance 1);
- `bn_gap`: the gap between the synthetic and the real clouds' batch means, in real
  standard deviations, mean over channels and layers.

`--coarse=K,...` then evaluates the random coreset of distillation 0, every cloud cut to
K points and brought back to the evaluation resolution with its parts (`geometry.densify`;
K = 0: whole), by the config's evaluation protocol with its `eval.num_evals` runs: the
evaluation network on parts that are right but coarse. Everything is printed and written
to `--out` as JSON.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from dd3d_jax import config as config_lib
from dd3d_jax import data as data_lib
from dd3d_jax import distill, geometry, methods, records, tasks
from dd3d_jax import generator as gen_lib
from dd3d_jax.errors import ConfigError, UserError
from dd3d_jax.evaluate import Evaluator, Protocol
from dd3d_jax.keys import stream
from dd3d_jax.methods import Context
from dd3d_jax.ops.chamfer import chamfer_distance
from dd3d_jax.ops.neighbors import square_distances


def against_nearest(syn: jax.Array, syn_parts: jax.Array, pool: jax.Array,
                    pool_parts: jax.Array) -> dict[str, jax.Array]:
  """One synthetic cloud against the real cloud of `pool` nearest to it part by part.

  Args:
    syn: [N, 3], syn_parts: [N] a synthetic cloud and its part ids.
    pool: [R, M, 3], pool_parts: [R, M] real clouds of its class.
  Returns:
    {'part_chamfer', 'shape_chamfer', 'wrong_part'} scalars (the module docstring).
  """
  r = pool.shape[0]
  by_part = chamfer_distance(jnp.broadcast_to(syn, (r, *syn.shape)), pool,
                             jnp.broadcast_to(syn_parts, (r, *syn_parts.shape)), pool_parts)
  best = jnp.argmin(by_part)
  ref, ref_parts = pool[best], pool_parts[best]
  nearest = jnp.argmin(square_distances(syn, ref), axis=-1)
  return {'part_chamfer': by_part[best], 'shape_chamfer': chamfer_distance(syn, ref),
          'wrong_part': jnp.mean((ref_parts[nearest] != syn_parts).astype(jnp.float32))}


@jax.jit
def part_gaps(syn: jax.Array, syn_parts: jax.Array, classes: jax.Array, pool: jax.Array,
              pool_parts: jax.Array) -> dict[str, jax.Array]:
  """`against_nearest` for every synthetic cloud, mean over the clouds.

  Args:
    syn: [S, N, 3], syn_parts: [S, N], classes: [S] the synthetic clouds.
    pool: [K, R, M, 3], pool_parts: [K, R, M] real clouds of every class.
  """
  gaps = jax.vmap(against_nearest)(syn, syn_parts, pool[classes], pool_parts[classes])
  return {k: v.mean() for k, v in gaps.items()}


def batch_statistics(network: Any, net_vars: Any, points: jax.Array,
                     labels: jax.Array) -> Any:
  """The batch means and variances every BatchNorm layer sees on `points` [B, N, 3]
  (classes `labels` [B]), whatever the layers' momentum: a training-mode pass started from
  statistics 0 gives (1 - m) b, one started from 1 gives m + (1 - m) b."""
  stats = net_vars['batch_stats']

  def after(value):
    start = jax.tree.map(lambda s: jnp.full_like(s, value), stats)
    return network.apply({**net_vars, 'batch_stats': start}, points, labels,
                         train=True)[1]['batch_stats']

  zero, one = after(0.0), after(1.0)
  return jax.tree.map(lambda a, b: a / (1.0 - (b - a)), zero, one)


def layers(stats: Any) -> list[dict]:
  """The BatchNorm layers of a `batch_stats` tree: the dicts holding 'mean' and 'var'."""
  if 'mean' in stats and 'var' in stats:
    return [stats]
  return [layer for child in stats.values() for layer in layers(child)]


def batch_norm_evidence(frozen: Any, real: Any, syn: Any) -> dict[str, float]:
  """`bn_scale` and `bn_gap` (the module docstring) from the frozen `batch_stats` and the
  batch statistics of real and of synthetic clouds (`batch_statistics`)."""
  scale, gap = [], []
  for f, r, s in zip(layers(frozen), layers(real), layers(syn)):
    real_std = jnp.sqrt(jnp.maximum(r['var'], 0.0) + 1e-5)
    scale.append(float(jnp.mean(real_std / jnp.sqrt(f['var'] + 1e-5))))
    gap.append(float(jnp.mean(jnp.abs(s['mean'] - r['mean']) / real_std)))
  return {'bn_scale': float(np.mean(scale)), 'bn_gap': float(np.mean(gap))}


def cosine(a: Any, b: Any) -> float:
  """The cosine between two pytrees of the same structure, as flat vectors."""
  a, b = (jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(t)]) for t in (a, b))
  return float(a @ b / jnp.maximum(jnp.linalg.norm(a) * jnp.linalg.norm(b), 1e-30))


def network_evidence(d: distill.Distiller, gen_params: Any, real: distill.RealData,
                     key: jax.Array, networks: int) -> dict[str, float]:
  """`conflict`, `bn_scale` and `bn_gap` (the module docstring), mean over `networks`
  fresh networks."""
  grads = jax.jit(distill.matching_loss_and_grad, static_argnums=(0, 7))
  labels = gen_lib.synthetic_labels(d.num_classes, d.cpc)
  out = []
  for i in range(networks):
    k_net, k_bn, k_real, k_noise, k_syn = jax.random.split(jax.random.fold_in(key, i), 5)
    fresh = d.network.init(k_net)
    frozen = distill.set_batch_statistics(d, fresh, real, k_bn)
    points, targets, weights = distill.real_batch(d, k_real, real)
    noise = gen_lib.sample_noise(k_noise, d.num_synthetic, d.train_points,
                                 d.synthesizer.noise_dim)
    noise = noise.reshape(d.num_classes, d.cpc, *noise.shape[1:])
    whole = grads(d, gen_params, frozen, points, targets, weights, noise, False)[1]
    by_part = grads(d, gen_params, frozen, points, targets, weights, noise, True)[1]
    syn, _ = distill.labelled_set(d, gen_params, k_syn, d.train_points)
    real_labels = jnp.repeat(jnp.arange(d.num_classes), points.shape[1])
    evidence = batch_norm_evidence(
        frozen['batch_stats'],
        batch_statistics(d.network, fresh, points.reshape(-1, *points.shape[2:]), real_labels),
        batch_statistics(d.network, fresh, syn, labels))
    out.append({'conflict': cosine(whole, by_part), **evidence})
  return {k: float(np.mean([o[k] for o in out])) for k in out[0]}


def coarse(key: jax.Array, points: np.ndarray, parts: np.ndarray, keep: int
           ) -> tuple[jax.Array, jax.Array]:
  """Every cloud [M, N, 3] (parts [M, N]) cut to `keep` random points and brought back to
  N with its parts (`geometry.densify`): the same parts, coarser."""
  k_cut, k_fill = jax.random.split(key)
  cut, cut_parts = geometry.subsample_labelled(k_cut, jnp.asarray(points), jnp.asarray(parts),
                                               keep)
  return geometry.densify(k_fill, cut, cut_parts, points.shape[1])


def define_flags() -> None:
  """The command line's flags: defined when run as a program only, so that importing this
  module beside `dd3d_jax.main` (which owns `--config` there) defines nothing twice."""
  config_flags.DEFINE_config_file('config', None, 'A part-segmentation config.',
                                  lock_config=True)
  flags.DEFINE_string('method', 'dd3d', 'The method of config.methods to distil.')
  flags.DEFINE_integer('pool', 16, 'Real clouds per class to compare with.')
  flags.DEFINE_integer('networks', 4, 'Fresh networks for the gradient and BatchNorm '
                       'evidence.')
  flags.DEFINE_list('coarse', [], 'Points per cloud of the coarse random coresets to '
                    'evaluate (0: whole).')
  flags.DEFINE_string('out', None, 'Where to write the JSON record.')
  flags.mark_flags_as_required(['config'])


def main(argv) -> None:
  del argv
  absl_logging.set_verbosity(absl_logging.WARNING)  # no backend notices: stderr is for errors
  f = flags.FLAGS
  try:
    if not all(k.isdigit() for k in f.coarse):
      raise ConfigError(f'--coarse={",".join(f.coarse)}: give points per cloud as whole '
                        'numbers, e.g. --coarse=0,64,32 (0: whole).')
    evidence(config_lib.validate(f.config), f.method, f.pool, f.networks,
             [int(k) for k in f.coarse], f.out)
  except UserError as e:  # one line and status 2, before anything is written
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


def evidence(c, method_name: str = 'dd3d', pool_size: int = 16, networks: int = 4,
             coarse_points: list[int] = (), out: str | None = None) -> dict:
  """The whole measurement of the module docstring for config `c` (the flags' meanings);
  returns the record it writes to `out`."""
  if method_name not in c.methods:
    raise ConfigError(f'--method={method_name} is not a method of the config; use one of '
                      f'{", ".join(c.methods)}.')
  settings = config_lib.method_settings(c, method_name)
  if c.task != 'segmentation' or settings.type != 'dd3d':
    raise ConfigError(f'part_evidence follows a DD3D set of part segmentation, not method '
                      f'{method_name!r} ({settings.type}) of task {c.task!r}; give a '
                      'part-segmentation config and a dd3d method.')
  dataset = data_lib.load(c.data)
  task = tasks.make(c.task, dataset)
  k = dataset.num_classes
  context = Context(dataset, tasks.build_network(c, task, distilling=True), c.distill.cpc,
                    None, task=task)
  real = distill.make_real_data(dataset.train.points, dataset.train.labels, k,
                                min_width=max(c.distill.batch_real, pool_size),
                                targets=task.targets(dataset.train))
  method = methods.build(settings.type, settings, context,
                         lambda arch: tasks.build_network(c, task, arch, distilling=True))
  d = method.distiller
  pool, pool_parts, _ = distill.sample_real(*jax.random.split(jax.random.key(1)), real,
                                            pool_size, d.train_points)
  classes = gen_lib.synthetic_labels(k, d.cpc)
  record = {'config': c.to_dict(), 'method': method_name, 'iterations': []}

  def gaps(state, it):
    syn, syn_parts = distill.labelled_set(d, state.gen_params, stream(c.seed, 'export', 0),
                                          d.train_points)
    row = {'iteration': it, **{n: float(v) for n, v in
                               part_gaps(syn, syn_parts, classes, pool, pool_parts).items()}}
    print(' '.join(f'{n} {v:.4g}' for n, v in row.items()), flush=True)
    record['iterations'].append(row)

  state = method.init(stream(c.seed, 'init', 0), real)
  gaps(state, 0)
  record['networks_first'] = network_evidence(d, state.gen_params, real, jax.random.key(2),
                                              networks)
  print('before distillation:', record['networks_first'], flush=True)
  step, t = jax.jit(method.step), time.perf_counter()
  for it in range(1, method.num_steps + 1):
    state, _ = step(state, methods.step_inputs(method, real))
    gaps(state, it)
  record['distill_seconds'] = time.perf_counter() - t
  record['networks_last'] = network_evidence(d, state.gen_params, real, jax.random.key(2),
                                             networks)
  print('after distillation:', record['networks_last'], flush=True)

  if coarse_points:
    random = methods.build('random', config_lib.method_settings(c, 'random'), context, None)
    small = random.export(random.init(stream(c.seed, 'init', 0), real),
                          stream(c.seed, 'export', 0), c.data.num_points)
    evaluator = Evaluator(tasks.build_network(c, task, 'pointnet'), task,
                          Protocol.from_config(c), dataset.test)
    record['coarse'] = {}
    for keep in coarse_points:
      points, parts = small.points, small.targets
      if keep:
        points, parts = coarse(jax.random.key(keep), points, parts, keep)
      runs = [evaluator.run(points, small.labels, parts, stream(c.seed, 'eval/pointnet', 0, s))
              for s in range(c.eval.num_evals)]
      miou = [r['final_class_miou'] for r in runs]
      record['coarse'][keep] = miou
      print(f'random coreset at {keep or "all"} points: class mIoU '
            f'{np.mean(miou):.1f} ± {np.std(miou):.1f}', flush=True)
  if out:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    records.write_json(out, record)
  return record


if __name__ == '__main__':
  define_flags()
  app.run(main)
