"""The main job: every method of `eval.methods`, distilled, exported and evaluated.

For each method (found by its `type`, see `dd3d_jax.methods`) and distillation
index d, the runner fits it (resuming from its checkpoints), its set is exported
and saved, and `eval.num_evals` fresh networks are trained on it and tested. Every
evaluation run is one result file; a re-run skips what is written and redoes only
what is missing, so an interruption at any point costs at most the run in progress.
The workdir's layout and the checks made before any work: `dd3d_jax.workdir`; the
key streams, paired across methods: `dd3d_jax.keys`.
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
from dd3d_jax import features
from dd3d_jax import plan as plan_lib
from dd3d_jax import devices, distill, evaluate, records, registry, render, runner
from dd3d_jax import workdir as workdir_lib
from dd3d_jax.keys import stream
from dd3d_jax import tasks as tasks_lib
from dd3d_jax.methods import Context, SmallSet
from dd3d_jax.workdir import Workdir

log = logging.getLogger('dd3d_jax')

def results_table(results: dict) -> str:
  """A plain-text table of results.json: each of the task's scores, final-epoch (the
  headline's best epoch beside it), and final-epoch headline per backbone if several."""
  task = results.get('meta', {}).get('task', 'classification')
  scores = tasks_lib.module(task).SCORES
  head, name = scores[0], tasks_lib.label(task, scores[0])
  lines = [f'{"method":<10} {f"final-epoch {name} %":>18} '
           f'{f"best-epoch {name} % (paper protocol)":>34} {"runs":>5}'
           + ''.join(f' {f"{tasks_lib.label(task, s)} %":>16}' for s in scores[1:])]
  for name, r in results.items():
    if not isinstance(r, dict) or f'final_{head}_mean' not in r:
      continue
    lines.append(f'{name:<10} {r[f"final_{head}_mean"]:>11.2f} +- {r[f"final_{head}_std"]:<4.2f} '
                 f'{r[f"best_{head}_mean"]:>27.2f} +- {r[f"best_{head}_std"]:<4.2f} '
                 f'{len(r["runs"]):>5}' + ''.join(
                     f' {r[f"final_{s}_mean"]:>9.2f} +- {r[f"final_{s}_std"]:<4.2f}'
                     for s in scores[1:]))
  by_backbone = results.get('by_backbone', {})
  if by_backbone:
    names = list(dict.fromkeys(m for b in by_backbone.values() for m in b))
    lines += ['', f'final-epoch {name} % by backbone', f'{"method":<10}' + ''.join(
        f' {b:>16}' for b in by_backbone)]
    for name in names:
      cells = [by_backbone[b].get(name) for b in by_backbone]
      lines.append(f'{name:<10}' + ''.join(
          f' {c[f"final_{head}_mean"]:>9.2f} +- {c[f"final_{head}_std"]:<4.2f}' if c
          else f' {"-":>16}' for c in cells))
  return '\n'.join(lines)


def _step_seconds(metrics: list[dict], name: str) -> float | None:
  """Median seconds of a method's steps, compilation excluded."""
  times = [m['seconds'] for m in metrics
           if m.get('method') == name and 'loss' in m and not m.get('compiled')]
  return round(float(np.median(times)), 4) if times else None


def summarize(config, plan: list[plan_lib.Planned], wd: Workdir, backbones: tuple[str, ...],
              dataset_meta: dict) -> dict:
  """results.json: per method the summary of its finished runs on the first backbone,
  `by_backbone` (backbone -> method -> mean and std, no runs) when there are several,
  plus meta."""
  metrics = records.read_jsonl(wd.path('metrics.jsonl'))
  summary, timing, by_backbone = {}, {}, {}
  for p in plan:
    for b in backbones:
      runs = wd.read_runs(p.name, p.num_distills, p.num_evals, b)
      if runs:
        s = {**evaluate.summarize(runs), 'type': p.type}
        if b == backbones[0]:
          summary[p.name] = s
        by_backbone.setdefault(b, {})[p.name] = {k: v for k, v in s.items() if k != 'runs'}
    timing[p.name] = _step_seconds(metrics, p.name)
  if len(backbones) > 1:
    summary['by_backbone'] = by_backbone
  networks = {}  # the herding/k-center feature networks and their own test accuracy
  folder = wd.path('features')
  for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
    if name.endswith('.npz') and not name.endswith('.tmp.npz'):
      with np.load(os.path.join(folder, name)) as f:
        networks[name[:-4]] = {k: round(float(f[k]), 2) for k in f.files if k != 'features'}
  summary['meta'] = {**dataset_meta, 'task': config.task, 'cpc': config.distill.cpc,
                     'rotated': bool(config.data.rotated), 'eval_points': config.data.num_points,
                     'train_points': config.distill.train_points, 'backbone': backbones[0],
                     'distill_network': config.model.arch,
                     'backend': jax.default_backend(), 'seconds_per_step': timing,
                     'feature_networks': networks,
                     'note': 'final_oa: accuracy after the last epoch (headline). best_oa: max '
                             'over tested epochs = test-set model selection, the protocol of the '
                             "authors' code, reported for comparison with the paper."}
  return summary


def _plot_losses(wd: Workdir, plan: list[plan_lib.Planned]) -> None:
  metrics = [m for m in records.read_jsonl(wd.path('metrics.jsonl')) if 'loss' in m]
  curves = {}
  for p in plan:
    for d in range(p.num_distills):
      mine = [m for m in metrics if m.get('method') == p.name and m.get('distill') == d]
      if mine:
        curves[f'{p.name} {d}'] = ([m['iteration'] for m in mine], [m['loss'] for m in mine])
  if curves:
    render.plot_curves(wd.path('loss.png'), curves, 'loss per class (each method its own)',
                       xlabel='step')


def _evaluate(evaluator, wd: Workdir, p: plan_lib.Planned, d: int, todo: list[int], small,
              seed: int, backbone: str) -> None:
  """Trains and tests one network per evaluation index in `todo`; one file each."""
  metrics_path = wd.path('metrics.jsonl')
  os.makedirs(os.path.dirname(wd.run_file(p.name, d, backbone, 0)), exist_ok=True)
  for s in todo:
    label = {'method': p.name, 'distill': d, 'backbone': backbone, 'eval': s}
    # Drop test lines of an interrupted earlier attempt at this run.
    records.write_jsonl(metrics_path, [
        m for m in records.read_jsonl(metrics_path)
        if not (any(k.startswith('test_') for k in m)
                and all(m.get(k) == v for k, v in label.items()))])
    t0 = time.time()

    def on_test(epoch, scores):
      records.append_jsonl(metrics_path, {**label, 'epoch': epoch,
                                          **{f'test_{k}': v for k, v in scores.items()}})

    key = stream(seed, f'eval/{backbone}', d, s)
    result = evaluator.run(small.points, small.labels, small.targets, key, on_test)
    result = {'method': p.name, 'type': p.type, 'task': evaluator.task.name,
              'backbone': backbone, 'distill': d, 'eval': s, 'set_size': int(len(small.labels)),
              'set_points': int(small.points.shape[1]), **result,
              'seconds': round(time.time() - t0, 1),
              'protocol': evaluate.protocol_record(evaluator.protocol)}
    records.write_json(wd.run_file(p.name, d, backbone, s), result)
    task = evaluator.task.name
    head, *rest = tasks_lib.module(task).SCORES
    log.info('eval %s | %s | distill %d | run %d/%d | final %s %.2f%% | best-epoch %s %.2f%%%s | '
             '%.0fs', p.name, backbone, d, s + 1, p.num_evals, tasks_lib.label(task, head),
             result[f'final_{head}'], tasks_lib.label(task, head), result[f'best_{head}'],
             ''.join(f' | {tasks_lib.label(task, k)} %.2f%%' % result[f'final_{k}']
                     for k in rest), result['seconds'])


def _read_results(path: str) -> dict | None:
  """results.json, or None (with a warning) if it is damaged: it is rewritten from the
  run files."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    log.warning('%s is damaged (%s); writing it again from the run files.', path,
                str(e).splitlines()[0][:200])
    return None


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Distils, exports and evaluates every method of `eval.methods`; resumes in `workdir`.

  Returns:
    The results dictionary also written to `workdir/results.json`.
  Raises:
    UserError: a bad config value, workdir or input file (before anything is written),
      a failed write, or a method whose loss became non-finite (`runner.Diverged`,
      with the config field of its learning rate).
  """
  config_lib.validate(config)
  wd, plan = Workdir(workdir), plan_lib.make_plan(config)
  backbones = config_lib.eval_backbones(config)
  protocols = {p.name: evaluate.protocol_record(
      evaluate.Protocol.from_config(config, plan_lib.eval_epochs(config, p))) for p in plan}
  workdir_lib.check(wd, config, protocols, backbones)
  redo = bool(config.eval.reevaluate)
  # (method, backbone) -> {d: evaluation indices without a run file}
  missing = {(p.name, b): wd.missing_runs(p.name, p.num_distills, p.num_evals, b, redo)
             for p in plan for b in backbones}
  results_path = wd.path('results.json')
  if not any(missing.values()) and os.path.exists(results_path):
    summary = _read_results(results_path)
    if summary is not None:
      log.info('every run is finished; results from %s (set --config.eval.reevaluate=True to '
               'evaluate again):\n%s', results_path, results_table(summary))
      return summary

  dataset = data_lib.load(config.data)
  task = tasks_lib.make(config.task, dataset)
  os.makedirs(workdir, exist_ok=True)
  workdir_lib.repair(wd)
  records.write_json(wd.path('config.json'), json.loads(config.to_json()))
  plan_lib.write_plan(wd, plan, backbones, dataset.name, config)
  k = dataset.num_classes
  log.info('dataset %s: %d classes, %d train / %d test clouds of %d points%s.',
           dataset.name, k, len(dataset.train), len(dataset.test),
           dataset.train.points.shape[1], ' (rotated + PCA)' if config.data.rotated else '')
  network = tasks_lib.build_network(config, task, distilling=True)
  mesh, cache = devices.make_mesh(config.mesh.units), wd.cache
  context = Context(dataset, network, config.distill.cpc,
                    features.features_fn(config, network, task, dataset, cache, mesh), cache,
                    mesh, task)
  real = distill.make_real_data(dataset.train.points, dataset.train.labels, k,
                                min_width=config.distill.batch_real,
                                targets=task.targets(dataset.train))
  precision = (contextlib.nullcontext() if config.matmul_precision == 'default'
               else jax.default_matmul_precision(config.matmul_precision))
  evaluators = {}  # (backbone, epochs) -> Evaluator (compiled once)

  def evaluator(backbone: str, epochs: int) -> evaluate.Evaluator:
    if (backbone, epochs) not in evaluators:
      evaluators[backbone, epochs] = evaluate.Evaluator(
          tasks_lib.build_network(config, task, backbone), task,
          evaluate.Protocol.from_config(config, epochs), dataset.test, mesh)
    return evaluators[backbone, epochs]

  with precision:
    for p in plan:
      todo_d = sorted({d for b in backbones for d in missing[p.name, b]})
      if not todo_d:
        continue
      method = registry.get('methods', p.type).from_config(p.settings, context)
      for d in todo_d:
        set_file = wd.set_file(p.name, d)
        if method.writes_set and os.path.exists(set_file):
          small = SmallSet(*records.load_set(set_file, tasks_lib.module(task.name).SET_KEY))
        else:
          fit_run = runner.Run({'method': p.name, 'distill': d},
                               wd.path('checkpoints', f'{p.name}_{d}'), wd.path('metrics.jsonl'),
                               config.distill.checkpoint_every, config.distill.keep_checkpoints,
                               config.distill.log_every)
          try:
            state = runner.fit(method, real, stream(config.seed, 'init', d), fit_run)
          except runner.Diverged as e:
            raise e.with_lr(*plan_lib.lr_field(config, p.name)) from None
          small = method.export(state, stream(config.seed, 'export', d), config.data.num_points)
          if method.writes_set:
            os.makedirs(os.path.dirname(set_file), exist_ok=True)
            records.save_set(set_file, small.points, small.labels, dataset.class_names,
                             tasks_lib.module(task.name).SET_KEY, small.targets)
        if method.writes_set and d == 0 and not os.path.exists(
            wd.path('renders', p.name, 'overview.png')):
          render.render_set(wd.path('renders', p.name), small.points, small.labels,
                            dataset.class_names, task.parts(small.targets))
        for b in backbones:
          if d in missing[p.name, b]:
            _evaluate(evaluator(b, plan_lib.eval_epochs(config, p)), wd, p, d,
                      missing[p.name, b][d], small, config.seed, b)

  _plot_losses(wd, plan)
  summary = summarize(config, plan, wd, backbones, {'dataset': dataset.name, 'num_classes': k})
  records.write_json(results_path, summary)
  log.info('results (%s):\n%s', results_path, results_table(summary))
  return summary
