"""Reporting: the run files, results.json, its text table and the loss plot.

    evaluate_runs(evaluator, wd, p, d, todo, small, storage, seed, backbone, on_line)
        runs/<method>/d<d>_<backbone>_s<s>.json for each s of `todo`: the evaluator's
        result ({final,best}_<score>, curve) with the run's method, set size, numbers
        stored, seconds and protocol; test scores appended to metrics.jsonl as they come
        (and given to `on_line`)
    summarize(config, plan, wd, backbones, dataset_meta) -> results.json's dictionary
    results_table(results) -> str          its plain-text table, as the job logs it
    read_results(path, plan, backbones, task) -> dict | None   results.json, or None if
                                           damaged (not the summary of `plan`)
    plot_losses(wd, plan)                  loss.png
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Callable

import jax
import numpy as np

from dd3d_jax import evaluate, records, render
from dd3d_jax import tasks as tasks_lib
from dd3d_jax.errors import Interrupted
from dd3d_jax.keys import stream
from dd3d_jax.plan import Planned
from dd3d_jax.tables import count_text
from dd3d_jax.workdir import Workdir

log = logging.getLogger('dd3d_jax')


def evaluate_runs(evaluator, wd: Workdir, p: Planned, d: int, todo: list[int], small,
                  storage: int | None, seed: int, backbone: str,
                  on_line: Callable[[dict], None] = lambda line: None) -> None:
  """Trains and tests one network per evaluation index in `todo`; one file each, with
  the numbers the set stores (`storage`, left out when None). Each test line is given to
  `on_line` once it is appended (`tensorboard.Board.line`). A Ctrl-C during a run ends it
  with `errors.Interrupted`, naming that run."""
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
      line = {**label, 'epoch': epoch, **{f'test_{k}': v for k, v in scores.items()}}
      records.append_jsonl(metrics_path, line)
      on_line(line)

    key = stream(seed, f'eval/{backbone}', d, s)
    try:
      result = evaluator.run(small.points, small.labels, small.targets, key, on_test)
    except KeyboardInterrupt as e:
      raise Interrupted(f'interrupted in evaluation run {s + 1} of {p.num_evals} (method '
                        f'{p.name}, distill {d}, backbone {backbone}); run the same command '
                        'again to redo that run (finished runs are kept).') from e
    result = {'method': p.name, 'type': p.type, 'task': evaluator.task.name,
              'backbone': backbone, 'distill': d, 'eval': s, 'set_size': int(len(small.labels)),
              'set_points': int(small.points.shape[1]),
              **({} if storage is None else {'storage': int(storage)}), **result,
              'seconds': round(time.time() - t0, 1),
              'protocol': evaluate.protocol_record(evaluator.protocol)}
    records.write_json(wd.run_file(p.name, d, backbone, s), result)
    task = evaluator.task.name
    head, *rest = tasks_lib.module(task).SCORES  # every score is in a run file written now
    log.info('eval %s | %s | distill %d | run %d/%d | final %s %.2f%% | best-epoch %s %.2f%%%s | '
             '%.0fs', p.name, backbone, d, s + 1, p.num_evals, tasks_lib.label(task, head),
             result[f'final_{head}'], tasks_lib.label(task, head), result[f'best_{head}'],
             ''.join(f' | {tasks_lib.label(task, k)} %.2f%%' % result[f'final_{k}']
                     for k in rest), result['seconds'])


def _number(x) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool)


def _problem(summary, plan: list[Planned], backbones: tuple[str, ...], task: str) -> str | None:
  """What keeps `summary` from being the results.json of `plan` that `results_table`
  reads (None: nothing)."""
  if not isinstance(summary, dict) or not isinstance(summary.get('meta'), dict):
    return 'not a JSON object with meta'
  if summary['meta'].get('task', 'classification') != task:
    return f'its task is not {task!r}'
  head, *rest = tasks_lib.required_scores(task)
  keys = [f'{when}_{s}_{stat}' for when, scores in (('final', (head, *rest)), ('best', (head,)))
          for s in scores for stat in ('mean', 'std')]
  for name, entry in summary.items():
    if name not in ('meta', 'by_backbone') and not (
        isinstance(entry, dict) and isinstance(entry.get('runs'), list)
        and all(_number(entry.get(k)) for k in keys)):
      return f'{name!r} is not a summary of runs'
  missing = [p.name for p in plan if p.name not in summary]
  if missing:
    return f'{missing[0]!r} is missing'
  by_backbone = summary.get('by_backbone', {})

  def cell(c) -> bool:
    return isinstance(c, dict) and all(_number(c.get(f'final_{head}_{stat}'))
                                       for stat in ('mean', 'std'))

  if not (isinstance(by_backbone, dict) and all(
      isinstance(b, dict) and all(map(cell, b.values())) for b in by_backbone.values())):
    return "'by_backbone' is malformed"
  if len(backbones) > 1 and not all(p.name in by_backbone.get(b, {})
                                    for b in backbones for p in plan):
    return "'by_backbone' lacks a backbone or method"
  return None


def read_results(path: str, plan: list[Planned], backbones: tuple[str, ...],
                 task: str) -> dict | None:
  """results.json, or None (with a warning) if it is damaged (not JSON, or not a summary
  of every method of `plan` on `backbones`): it is rewritten from the run files."""
  try:
    with open(path) as f:
      problem = _problem(summary := json.load(f), plan, backbones, task)
  except (OSError, ValueError) as e:
    problem = str(e).splitlines()[0][:200]
  if problem:
    log.warning('%s is damaged (%s); writing it again from the run files.', path, problem)
    return None
  return summary


def _step_seconds(metrics: list[dict], name: str) -> float | None:
  """Median seconds of a method's steps, compilation excluded."""
  times = [m['seconds'] for m in metrics
           if m.get('method') == name and 'loss' in m and not m.get('compiled')]
  return round(float(np.median(times)), 4) if times else None


def summarize(config, plan: list[Planned], wd: Workdir, backbones: tuple[str, ...],
              dataset_meta: dict) -> dict:
  """results.json: per method the summary of its finished runs on the first backbone,
  `by_backbone` (backbone -> method -> mean and std, no runs) when there are several,
  plus meta."""
  metrics = records.read_jsonl(wd.path('metrics.jsonl'))
  summary, timing, by_backbone = {}, {}, {}
  head, gain = tasks_lib.module(config.task).SCORES[0], tasks_lib.gain_score(config.task)
  reference = next((p for p in plan if p.name == evaluate.reference_method(
      {p.name: p.type for p in plan})), None)
  reference_runs = {b: wd.read_runs(reference.name, reference.num_distills,
                                    reference.num_evals, b) for b in backbones} if reference else {}
  for p in plan:
    for b in backbones:
      runs = wd.read_runs(p.name, p.num_distills, p.num_evals, b)
      if runs:
        s = {**evaluate.summarize(runs), 'type': p.type}
        if all('storage' in r for r in runs):  # numbers stored per set (`stored_values`)
          s['storage'] = max(r['storage'] for r in runs)
        if reference is not None:  # every run paired with the random coreset's
          paired = evaluate.with_gains(runs, reference_runs[b], gain)
          s.update({k: v for k, v in evaluate.summarize(paired).items()
                    if k.startswith(f'final_{gain}_gain_')})
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
                     'note': f'final_{head}: the score after the last epoch (headline). '
                             f'best_{head}: max over tested epochs = test-set model selection, '
                             "the protocol of the authors' code, reported for comparison with "
                             f'the paper. final_{gain}_gain: each run minus the random '
                             'coreset\'s run of the same distillation and evaluation index '
                             '(the same evaluation key), when every run has one.'}
  return summary


def results_table(results: dict) -> str:
  """A plain-text table of results.json: each of the task's scores, final-epoch (the
  headline's best epoch beside it), and final-epoch headline per backbone if several."""
  task = results.get('meta', {}).get('task', 'classification')
  scores = tasks_lib.module(task).SCORES
  head, name, scored = scores[0], tasks_lib.label(task, scores[0]), tasks_lib.gain_score(task)
  gain = f'final_{scored}_gain'
  gains = any(isinstance(r, dict) and f'{gain}_mean' in r for r in results.values())
  stored = any(isinstance(r, dict) and 'storage' in r for r in results.values())
  lines = [f'{"method":<10} {f"final-epoch {name} %":>18} '
           f'{f"best-epoch {name} % (paper protocol)":>34} {"runs":>5}'
           + ''.join(f' {f"{tasks_lib.label(task, s)} %":>16}' for s in scores[1:])
           + (f' {f"{tasks_lib.label(task, scored)} - random":>16}' if gains else '')
           + (f' {"stored":>8}' if stored else '')]
  for method, r in results.items():
    if not isinstance(r, dict) or f'final_{head}_mean' not in r:
      continue
    lines.append(f'{method:<10} {r[f"final_{head}_mean"]:>11.2f} +- {r[f"final_{head}_std"]:<4.2f} '
                 f'{r[f"best_{head}_mean"]:>27.2f} +- {r[f"best_{head}_std"]:<4.2f} '
                 f'{len(r["runs"]):>5}' + ''.join(
                     f' {r[f"{k}_mean"]:>{"+" if k == gain else ""}9.2f} +- '
                     f'{r[f"{k}_std"]:<4.2f}'
                     if f'{k}_mean' in r else f' {"-":>16}'  # older than the score, unpaired
                     for k in [f'final_{s}' for s in scores[1:]] + [gain] * gains)
                 + (f' {count_text(r["storage"]) if "storage" in r else "-":>8}' if stored else ''))
  by_backbone = results.get('by_backbone', {})
  if by_backbone:
    methods = list(dict.fromkeys(m for b in by_backbone.values() for m in b))
    lines += ['', f'final-epoch {name} % by backbone', f'{"method":<10}' + ''.join(
        f' {b:>16}' for b in by_backbone)]
    for method in methods:
      cells = [by_backbone[b].get(method) for b in by_backbone]
      lines.append(f'{method:<10}' + ''.join(
          f' {c[f"final_{head}_mean"]:>9.2f} +- {c[f"final_{head}_std"]:<4.2f}' if c
          else f' {"-":>16}' for c in cells))
  return '\n'.join(lines)


def plot_losses(wd: Workdir, plan: list[Planned]) -> None:
  """loss.png: the loss curve of every method's distillation with steps, per index d."""
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
