"""The main job: distil, evaluate and export, from a config and a workdir.

    workdir/
      config.json            the config of the run (a re-run must match it)
      checkpoints/distill_D  Orbax checkpoints of distillation D (resume from here)
      metrics.jsonl          one JSON line per iteration and per test evaluation
      distilled.npz          the distilled set at evaluation resolution (D > 0: distilled_D.npz)
      renders/               overview.png and one PNG per class of the distilled set
      loss.png               the matching loss per iteration
      results.json           method -> {final_oa_mean, final_oa_std, best_oa_mean, ..., runs}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time

import jax
import ml_collections
import numpy as np

from dd3d_jax import config as config_lib
from dd3d_jax import data as data_lib
from dd3d_jax import distill, evaluate, export, rotator, synthetic
from dd3d_jax import generator as gen_lib
from dd3d_jax.baselines import coreset
from dd3d_jax.checkpoint import Checkpointer
from dd3d_jax.errors import ConfigError, UserError
from dd3d_jax.models import make_classifier

log = logging.getLogger('dd3d_jax')

# Config sections that define what a workdir's checkpoints contain.
DISTILL_SECTIONS = ('seed', 'num_distills', 'data', 'model', 'distill')


def build_classifier(config: ml_collections.ConfigDict, num_classes: int):
  """The network of distillation and evaluation, behind the rotator when rotated."""
  kind = config.model.rotator if config.data.rotated else 'none'
  rot = rotator.make_rotator(kind, config.model.w0_sign, config.model.rotator_frequencies,
                             config.model.rotator_tau)
  return make_classifier(config.model.arch, num_classes, rot)


def build_distiller(config: ml_collections.ConfigDict, num_classes: int) -> distill.Distiller:
  d = config.distill
  return distill.Distiller(
      synthesizer=synthetic.SirenSet(gen_lib.ModulatedSiren(
          num_classes=num_classes, cpc=d.cpc, w0_initial=d.w0_initial, hidden=d.hidden,
          num_layers=d.num_layers)),
      classifier=build_classifier(config, num_classes), num_classes=num_classes, cpc=d.cpc,
      batch_real=d.batch_real, train_points=d.train_points, outer_loop=d.outer_loop,
      inner_loop=d.inner_loop, iterations=d.iterations, metric=d.metric,
      class_chunk=config_lib.resolve_class_chunk(d.class_chunk), lr=d.lr,
      weight_decay=d.weight_decay, lr_net=d.lr_net, batch_syn=d.batch_syn,
      augment_real=d.augment_real)


def build_protocol(config: ml_collections.ConfigDict) -> evaluate.Protocol:
  e = config.eval
  return evaluate.Protocol(epochs=e.epochs, batch_size=e.batch_size, optimizer=e.optimizer,
                           lr=e.lr, lr_min=e.lr_min, weight_decay=e.weight_decay,
                           schedule=e.schedule, augment=e.augment, test_every=e.test_every,
                           test_batch=e.test_batch)


def _flatten(d: dict, prefix: str = '') -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = list(v) if isinstance(v, tuple) else v
  return out


def check_workdir(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Refuses a workdir whose run was made with another config (nothing is written)."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return
  with open(path) as f:
    saved = _flatten(json.load(f))
  now = _flatten(json.loads(config.to_json()))
  diffs = [f'{k}: {saved.get(k)!r} -> {now.get(k)!r}' for k in sorted(set(saved) | set(now))
           if k.split('.')[0] in DISTILL_SECTIONS and saved.get(k) != now.get(k)]
  if diffs:
    raise ConfigError(f'{workdir} holds a run made with another config ({"; ".join(diffs[:3])}'
                      f'{"; ..." if len(diffs) > 3 else ""}); use a new --workdir.')


def _format_seconds(s: float) -> str:
  s = int(s)
  return f'{s // 3600}h{s // 60 % 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


def run_distillation(distiller: distill.Distiller, real: distill.RealData, key: jax.Array,
                     config: ml_collections.ConfigDict, workdir: str, index: int):
  """Runs (or resumes, or just reloads) distillation `index`; returns its final state."""
  d = config.distill
  ckpt = Checkpointer(os.path.join(workdir, 'checkpoints', f'distill_{index}'),
                      every=d.checkpoint_every, keep=d.keep_checkpoints)
  state = ckpt.restore_latest(distill.init_state(distiller, key))
  if state is None:
    state = distill.init_state(distiller, key)
  start = int(state.iteration)
  metrics_path = os.path.join(workdir, 'metrics.jsonl')
  if start >= d.iterations:
    log.info('distillation %d already finished (%d iterations).', index, start)
    ckpt.close()
    return state
  if start:
    log.info('distillation %d: resuming from iteration %d.', index, start)
  # Drop metrics the checkpoint does not contain (written after it, before a stop).
  export.write_jsonl(metrics_path, [
      m for m in export.read_jsonl(metrics_path)
      if not (m.get('distill') == index and m.get('iteration', 0) > start)])

  step = distill.make_iteration_fn(distiller)
  t_start, t_first = time.time(), None
  for it in range(start + 1, d.iterations + 1):
    state, metrics = step(state, real)
    loss = float(metrics['loss'])
    if not np.isfinite(loss):
      ckpt.close()
      raise UserError(f'distillation {index}: the matching loss became {loss} at iteration '
                      f'{it}; lower distill.lr (now {d.lr}) or check the data.')
    now = time.time()
    if t_first is None:
      t_first = now
      log.info('distillation %d: first iteration (with compilation) took %.1fs.', index,
                   now - t_start)
    export.append_jsonl(metrics_path, {'distill': index, 'iteration': it, 'loss': loss,
                                       'time': round(now - t_start, 3)})
    ckpt.save(it, state, force=it == d.iterations)
    if it % d.log_every == 0 or it == d.iterations:
      done = it - start - 1
      rate = done / (now - t_first) if done else float('nan')
      left = (d.iterations - it) / rate if done else float('nan')
      log.info('distill %d | iter %d/%d | loss %.4f | %.2f it/s | %s left', index, it,
                   d.iterations, loss, rate, _format_seconds(left) if done else '?')
  ckpt.close()
  return state


def evaluate_method(evaluator: evaluate.Evaluator, name: str, make_set, key: jax.Array,
                    num_evals: int, workdir: str, distill_index: int) -> list[dict]:
  """Trains `num_evals` fresh networks, each on `make_set(s) -> (points, labels)`."""
  runs = []
  for s in range(num_evals):
    t0 = time.time()

    def log_test(epoch, oa, s=s):
      export.append_jsonl(os.path.join(workdir, 'metrics.jsonl'),
                          {'method': name, 'distill': distill_index, 'eval': s, 'epoch': epoch,
                           'test_oa': oa})

    points, labels = make_set(s)
    result = evaluator.run(points, labels, jax.random.fold_in(key, s), on_test=log_test)
    result.update({'distill': distill_index, 'eval': s, 'seconds': round(time.time() - t0, 1)})
    log.info('eval %s | distill %d | run %d/%d | final OA %.2f%% | best-epoch OA %.2f%% '
             '| %.0fs', name, distill_index, s + 1, num_evals, result['final_oa'],
             result['best_oa'], result['seconds'])
    runs.append(result)
  return runs


def results_table(results: dict) -> str:
  """A plain-text table of results.json."""
  lines = [f'{"method":<10} {"final-epoch OA %":>18} {"best-epoch OA % (paper protocol)":>34}'
           f' {"runs":>5}']
  for name, r in results.items():
    if not isinstance(r, dict) or 'final_oa_mean' not in r:
      continue
    lines.append(f'{name:<10} {r["final_oa_mean"]:>11.2f} +- {r["final_oa_std"]:<4.2f} '
                 f'{r["best_oa_mean"]:>27.2f} +- {r["best_oa_std"]:<4.2f} {len(r["runs"]):>5}')
  return '\n'.join(lines)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Distils, evaluates and exports; resumes from checkpoints in `workdir`.

  Returns:
    The results dictionary also written to `workdir/results.json`.
  """
  config_lib.validate(config)
  check_workdir(workdir, config)
  results_path = os.path.join(workdir, 'results.json')
  if os.path.exists(results_path) and not config.eval.reevaluate:
    with open(results_path) as f:
      summary = json.load(f)
    log.info('this run already finished; results from %s (set --config.eval.reevaluate=True '
             'to evaluate again):\n%s', results_path, results_table(summary))
    return summary
  precision = (contextlib.nullcontext() if config.matmul_precision == 'default'
               else jax.default_matmul_precision(config.matmul_precision))

  dataset = data_lib.load(config.data)
  os.makedirs(workdir, exist_ok=True)
  export.write_json(os.path.join(workdir, 'config.json'), json.loads(config.to_json()))
  k, cpc = dataset.num_classes, config.distill.cpc
  log.info('dataset %s: %d classes, %d train / %d test clouds of %d points%s.',
           dataset.name, k, len(dataset.train), len(dataset.test),
           dataset.train.points.shape[1], ' (rotated + PCA)' if config.data.rotated else '')
  distiller = build_distiller(config, k)
  distiller = distiller._replace(batch_real=min(distiller.batch_real, len(dataset.train)))
  evaluator = evaluate.Evaluator(build_classifier(config, k), build_protocol(config),
                                 dataset.test.points, dataset.test.labels)
  real = distill.make_real_data(dataset.train.points, dataset.train.labels, k,
                                min_width=distiller.batch_real)
  base_key = jax.random.key(config.seed)
  methods = config_lib.parse_methods(config.eval.methods)
  results = {m: [] for m in methods}
  timing = {}

  with precision:
    for d in range(config.num_distills):
      key = jax.random.fold_in(base_key, d)
      if 'dd3d' in methods:
        t0 = time.time()
        state = run_distillation(distiller, real, key, config, workdir, d)
        timing[f'distill_{d}_seconds'] = round(time.time() - t0, 1)
        points = np.asarray(distill.generate_set(
            distiller, state.gen_params, jax.random.fold_in(key, 1), config.data.num_points))
        labels = np.asarray(gen_lib.synthetic_labels(k, cpc))
        suffix = '' if d == 0 else f'_{d}'
        export.save_distilled(os.path.join(workdir, f'distilled{suffix}.npz'), points, labels,
                              dataset.class_names)
        if d == 0:
          export.render_set(os.path.join(workdir, 'renders'), points, labels,
                            dataset.class_names)
        results['dd3d'] += evaluate_method(
            evaluator, 'dd3d', lambda s, p=points, l=labels: (p, l), jax.random.fold_in(key, 2),
            config.eval.num_evals, workdir, d)
      if 'random' in methods:  # a fresh random coreset for every evaluation run

        def random_set(s, d=d):
          idx = coreset.random_coreset(dataset.train.labels, k, cpc,
                                       seed=(config.seed * 1000 + d) * 1000 + s)
          return dataset.train.points[idx], dataset.train.labels[idx]

        results['random'] += evaluate_method(evaluator, 'random', random_set,
                                             jax.random.fold_in(key, 3), config.eval.num_evals,
                                             workdir, d)
    if 'full' in methods:  # the whole training split: the upper bound
      results['full'] = evaluate_method(
          evaluator, 'full', lambda s: (dataset.train.points, dataset.train.labels),
          jax.random.fold_in(base_key, 4), config.eval.num_evals, workdir, 0)

  if 'dd3d' in methods:
    metrics = [m for m in export.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
               if 'loss' in m]
    curves = {f'distill {d}': ([m['iteration'] for m in metrics if m['distill'] == d],
                               [m['loss'] for m in metrics if m['distill'] == d])
              for d in range(config.num_distills)}
    export.plot_curves(os.path.join(workdir, 'loss.png'), curves, 'matching loss per class')

  summary = {name: evaluate.summarize(runs) for name, runs in results.items()}
  summary['meta'] = {'dataset': dataset.name, 'num_classes': k, 'cpc': cpc,
                     'rotated': bool(config.data.rotated), 'eval_points': config.data.num_points,
                     'train_points': config.distill.train_points,
                     'backend': jax.default_backend(), **timing,
                     'note': 'final_oa: accuracy after the last epoch (headline). best_oa: max '
                             'over tested epochs = test-set model selection, the protocol of the '
                             "authors' code, reported for comparison with the paper."}
  export.write_json(results_path, summary)
  log.info('results (%s):\n%s', results_path, results_table(summary))
  return summary
