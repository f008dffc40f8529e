"""The main job, `run(config, workdir)`: every method of `eval.methods`, distilled, exported
and evaluated.

For each method (found by its `type`, see `dd3d_jax.methods`) and distillation
index d, the runner fits it (resuming from its checkpoints), its set is exported
and saved, and `eval.num_evals` fresh networks are trained on it and tested. Every
evaluation run is one result file; a re-run skips what is written and redoes only
what is missing, so an interruption at any point costs at most the run in progress.

Its parts: the plan and plan.json (`dd3d_jax.plan`); the workdir's layout, the checks
made before any work and its npz cache (`dd3d_jax.workdir`); its lock, one job at a
time (`dd3d_jax.lock`); the key streams, paired across methods (`dd3d_jax.keys`); the
herding/k-center feature network (`dd3d_jax.features`); the run files, results.json,
its table and the loss plot (`dd3d_jax.results`); the TensorBoard events, when
`config.tensorboard` asks for them (`dd3d_jax.tensorboard`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Iterator

import jax
import ml_collections

from dd3d_jax import config as config_lib
from dd3d_jax import data as data_lib
from dd3d_jax import devices, distill, evaluate, features, lock, records, render, runner
from dd3d_jax import plan as plan_lib
from dd3d_jax import resources, results, tensorboard
from dd3d_jax import tasks as tasks_lib
from dd3d_jax import workdir as workdir_lib
from dd3d_jax.errors import Interrupted
from dd3d_jax.keys import stream
from dd3d_jax import methods as methods_lib
from dd3d_jax.methods import Context, SmallSet, stored_values
from dd3d_jax.workdir import Workdir

log = logging.getLogger('dd3d_jax')


@contextlib.contextmanager
def _named_interrupt(doing: str) -> Iterator[None]:
  """Turns a Ctrl-C inside the block into `Interrupted` naming what the job was `doing`
  (one raised deeper, by the runner, names its step and stays as it is)."""
  try:
    yield
  except Interrupted:
    raise
  except KeyboardInterrupt as e:
    raise Interrupted(f'interrupted while {doing}; run the same command again to resume '
                      '(finished steps and runs are kept).') from e


def obtain_set(config: ml_collections.ConfigDict, wd: Workdir, p: plan_lib.Planned, d: int,
               method, real, dataset, task,
               board: tensorboard.Board) -> tuple[SmallSet, int | None]:
  """Method p's set d and the numbers it stores (`methods.stored_values`; None for a set
  file written before they were recorded): read from its set file when the method writes
  one and it is there, else fitted by the runner (resuming from its checkpoints),
  exported, drawn on `board` and saved."""
  set_file, set_key = wd.set_file(p.name, d), tasks_lib.module(task.name).SET_KEY
  if method.writes_set and os.path.exists(set_file):
    return SmallSet(*records.load_set(set_file, set_key)), records.load_storage(set_file)
  fit_run = runner.Run({'method': p.name, 'distill': d}, wd.path('checkpoints', f'{p.name}_{d}'),
                       wd.path('metrics.jsonl'), config.distill.checkpoint_every,
                       config.distill.keep_checkpoints, config.distill.log_every, board.line)
  try:
    state = runner.fit(method, real, stream(config.seed, 'init', d), fit_run)
  except runner.Diverged as e:
    raise e.with_lr(*plan_lib.lr_field(config, p.name)) from None
  small = method.export(state, stream(config.seed, 'export', d), config.data.num_points)
  storage = stored_values(state, small)
  if method.writes_set:  # drawn before it is saved: a set not saved is made and drawn again
    board.add_set(p.name, d, method.num_steps, small.points, small.labels, dataset.class_names,
                  task.parts(small.targets))
    os.makedirs(os.path.dirname(set_file), exist_ok=True)
    records.save_set(set_file, small.points, small.labels, dataset.class_names, set_key,
                     small.targets, storage)
  return small, storage


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Distils, exports and evaluates every method of `eval.methods`; resumes in `workdir`,
  holding its lock (`dd3d_jax.lock`) from before the workdir is checked to the end.

  A finished run only reads its results, unless a derived file is missing or damaged:
  a set file (exported again from the method's final checkpoint), an overview render,
  loss.png, plan.json or results.json (each written again).

  Returns:
    The results dictionary also written to `workdir/results.json`.
  Raises:
    UserError: a bad config value (tensorboard=True without tensorboardX too), workdir or
      input file, or another run holding the workdir (before anything is written), a
      failed write, or a method whose loss became non-finite (`runner.Diverged`, with the
      config field of its learning rate).
    Interrupted: a Ctrl-C during a method's steps or an evaluation run, naming it.
  """
  config_lib.validate(config)
  wd = Workdir(workdir)
  board = tensorboard.Board(wd.path('tensorboard'), config.tensorboard)  # writes nothing yet
  workdir_lib.check_location(workdir)
  with lock.hold(workdir), board:
    return _run(config, wd, board)


def _finished(config: ml_collections.ConfigDict, wd: Workdir, plan: list[plan_lib.Planned],
              backbones: tuple[str, ...]) -> dict | None:
  """The results of a finished run whose plan.json and results.json are intact (loss.png
  is drawn again if it is missing), else None."""
  results_path = wd.path('results.json')
  if not os.path.exists(results_path):
    return None
  summary = results.read_results(results_path, plan, backbones, config.task)
  if summary is None or plan_lib.read_plan(wd) is None:
    return None
  if not os.path.exists(wd.path('loss.png')):
    results.plot_losses(wd, plan)
  log.info('every run is finished; results from %s (set --config.eval.reevaluate=True to '
           'evaluate again):\n%s', results_path, results.results_table(summary))
  return summary


def _pictures_missing(config: ml_collections.ConfigDict, wd: Workdir, method: str) -> bool:
  """Whether `method`'s first set is to be drawn: pictures are asked for and the overview,
  drawn last, is absent."""
  return config.render and not os.path.exists(wd.path('renders', method, 'overview.png'))


def _run(config: ml_collections.ConfigDict, wd: Workdir, board: tensorboard.Board) -> dict:
  plan, backbones = plan_lib.make_plan(config), config_lib.eval_backbones(config)
  protocols = {p.name: evaluate.protocol_record(
      evaluate.Protocol.from_config(config, plan_lib.eval_epochs(config, p))) for p in plan}
  workdir_lib.check(wd, config, protocols, backbones)
  for warning in plan_lib.untested_epochs(config, plan):
    log.warning('%s', warning)
  redo = bool(config.eval.reevaluate)
  # (method, backbone) -> {d: evaluation indices without a run file}
  missing = {(p.name, b): wd.missing_runs(p.name, p.num_distills, p.num_evals, b, redo)
             for p in plan for b in backbones}
  # method -> the d whose set file (or, for d = 0 when rendering, overview render) is missing
  lost = {p.name: [d for d in range(p.num_distills) if not os.path.exists(wd.set_file(p.name, d))
                   or d == 0 and _pictures_missing(config, wd, p.name)]
          for p in plan if plan_lib.writes_set(p)}
  if not any(missing.values()) and not any(lost.values()):
    summary = _finished(config, wd, plan, backbones)
    if summary is not None:
      return summary

  resources.check_data(config.data)
  dataset = data_lib.load(config.data)
  resources.check_methods(plan, dataset.num_classes, config.distill.cpc)
  task = tasks_lib.make(config.task, dataset)
  os.makedirs(wd.root, exist_ok=True)
  workdir_lib.repair(wd)
  records.write_json(wd.path('config.json'), json.loads(config.to_json()))
  plan_lib.write_plan(wd, plan, backbones, dataset.name, config)
  k = dataset.num_classes
  log.info('%s', devices.describe(config.mesh.units))
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
      todo_d = {d for b in backbones for d in missing[p.name, b]}
      if not todo_d and not lost.get(p.name):
        continue
      method = methods_lib.build(p.type, p.settings, context, lambda arch: tasks_lib.build_network(
          config, task, arch, distilling=True))
      if method.writes_set:  # a lost set is exported again (from the final checkpoint)
        todo_d.update(lost.get(p.name, ()))
      for d in sorted(todo_d):
        with _named_interrupt(f'exporting or drawing the set (method {p.name}, distill {d})'):
          small, storage = obtain_set(config, wd, p, d, method, real, dataset, task, board)
          if method.writes_set and d == 0 and _pictures_missing(config, wd, p.name):
            render.render_set(wd.path('renders', p.name), small.points, small.labels,
                              dataset.class_names, task.parts(small.targets))
        for b in backbones:
          if d in missing[p.name, b]:
            results.evaluate_runs(evaluator(b, plan_lib.eval_epochs(config, p)), wd, p, d,
                                  missing[p.name, b][d], small, storage, config.seed, b,
                                  board.line)

  results.plot_losses(wd, plan)
  summary = results.summarize(config, plan, wd, backbones,
                              {'dataset': dataset.name, 'num_classes': k})
  results_path = wd.path('results.json')
  records.write_json(results_path, summary)
  log.info('results (%s):\n%s', results_path, results.results_table(summary))
  return summary
