"""Runs any method's steps: jitted and donated, checkpointed, resumable, NaN-guarded.

`fit(method, real, key, run)` is the same loop for every method with steps (a
selection, with `num_steps == 0`, is only initialised):

- the state is restored from the latest Orbax checkpoint in `run.directory`, so a
  stopped run continues where it stopped and ends with exactly the state an
  uninterrupted run has (the method folds its own iteration count into its keys);
- metric lines that the checkpoint does not contain (written after it, before a
  stop) are dropped, so `metrics.jsonl` never counts an iteration twice;
- a non-finite loss stops the run before that state is saved, so the newest
  checkpoint is the last good one;
- progress is logged with the rate and the time left;
- a Ctrl-C ends it with `errors.Interrupted`: the step it stopped in and the
  checkpoint the same command resumes from.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from dd3d_jax import devices, records
from dd3d_jax.checkpoint import Checkpointer
from dd3d_jax.errors import Interrupted, UserError
from dd3d_jax.methods import step_inputs

log = logging.getLogger('dd3d_jax')


class Run(NamedTuple):
  """Where and how one method's distillation is run and recorded.

  Attributes:
    label: {'method': name, 'distill': index}, the key of its metric lines.
    directory: its checkpoint folder.
    metrics_path: the JSON-lines file of the workdir.
    checkpoint_every, keep_checkpoints, log_every: in steps.
    on_line: called with each metric line once it is appended (`tensorboard.Board.line`).
  """
  label: dict
  directory: str
  metrics_path: str
  checkpoint_every: int = 10
  keep_checkpoints: int = 3
  log_every: int = 10
  on_line: Callable[[dict], None] = lambda line: None


class Diverged(UserError):
  """A method's loss became non-finite; its last good state is checkpointed.

  Attributes:
    name, step, loss, last_good: which run, at which step, the loss, the newest checkpoint.
    lr_field, lr: the config field of that method's learning rate and its value, when
      the caller knows them (`with_lr`), so that the fix can be named exactly.
  """

  def __init__(self, name: str, step: int, loss: float, last_good: int,
               lr_field: str | None = None, lr: float | None = None):
    self.name, self.step, self.loss, self.last_good = name, step, loss, last_good
    self.lr_field, self.lr = lr_field, lr
    fix = (f'lower {lr_field} (now {lr:g}) in a new workdir' if lr_field else
           'lower the learning rate of this method in a new workdir')
    super().__init__(f'{name}: the loss became {loss} at step {step} (the last good state is '
                     f'checkpointed at step {last_good}); {fix}, or check the data.')

  def with_lr(self, lr_field: str, lr: float) -> 'Diverged':
    return Diverged(self.name, self.step, self.loss, self.last_good, lr_field, lr)


def format_seconds(s: float) -> str:
  s = int(s)
  return f'{s // 3600}h{s // 60 % 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


def _mine(record: dict, label: dict) -> bool:
  return all(record.get(k) == v for k, v in label.items())


@functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
def _step(method: Any, state: Any, inputs: Any) -> tuple[Any, dict]:
  """`method.step`, compiled once per method (a static argument, by its hash and
  equality), so every distillation index and every resume reuses the program. The new
  state is kept whole on each device of the method's `mesh` (if it has one), so that
  every process of a job of several can export and checkpoint it."""
  state, metrics = method.step(state, inputs)
  return devices.replicate(state, getattr(method, 'mesh', None)), metrics


def fit(method: Any, real: Any, key: jax.Array, run: Run) -> Any:
  """Initialises `method` and runs (or resumes, or just restores) its steps.

  Returns:
    The final state.
  Raises:
    Interrupted: a Ctrl-C, saying at which step of which run and where the same command
      resumes.
  """
  where = ', '.join(f'{k} {v}' for k, v in run.label.items())
  try:
    state = method.init(key, real)
  except KeyboardInterrupt as e:
    raise Interrupted(f'interrupted while initialising {where}; run the same command again to '
                      'start it anew (finished runs are kept).') from e
  if method.num_steps == 0:
    return state
  name = ' '.join(f'{v}' for v in run.label.values())
  ckpt = Checkpointer(run.directory, every=run.checkpoint_every, keep=run.keep_checkpoints)
  it = 0
  try:
    start, state = ckpt.restore_latest(state)
    if start >= method.num_steps:
      log.info('%s: already distilled (%d steps).', name, start)
      return state
    if start:
      log.info('%s: resuming from step %d.', name, start)
    records.write_jsonl(run.metrics_path, [
        m for m in records.read_jsonl(run.metrics_path)
        if not (_mine(m, run.label) and m.get('iteration', 0) > start)])
    # Steps donate their input; a state that shares arrays with the caller (a key kept
    # as it was given) must not lose them, so the runner steps its own copy, placed where
    # the step keeps it: a fresh and a restored state then take the same compiled step.
    state = devices.place_replicated(state, getattr(method, 'mesh', None))
    inputs = step_inputs(method, real)
    t_first = None
    for it in range(start + 1, method.num_steps + 1):
      t0 = time.time()
      state, metrics = _step(method, state, inputs)
      loss = float(metrics['loss'])
      seconds = time.time() - t0
      if not np.isfinite(loss):
        raise Diverged(name, it, loss, ckpt.latest_step() or 0)
      if t_first is None:
        t_first = time.time()
        log.info('%s: first step (with compilation, if this process had not compiled it) '
                 'took %.1fs.', name, seconds)
      line = {**run.label, 'iteration': it, 'loss': loss, 'seconds': round(seconds, 4),
              'compiled': it == start + 1}
      records.append_jsonl(run.metrics_path, line)
      run.on_line(line)
      ckpt.save(it, state, force=it == method.num_steps)
      if it % run.log_every == 0 or it == method.num_steps:
        done = it - start - 1
        rate = done / (time.time() - t_first) if done else float('nan')
        left = format_seconds((method.num_steps - it) / rate) if done else '?'
        log.info('%s | step %d/%d | loss %.4f | %.2f it/s | %s left', name, it,
                 method.num_steps, loss, rate, left)
    return state
  except KeyboardInterrupt as e:
    last, at = ckpt.latest_step(), f'step {it} of {method.num_steps}' if it else 'its start'
    raise Interrupted(f'interrupted at {at} ({where}); run the same command again to resume '
                      f'from {f"step {last}" if last else "its start"} (finished runs are kept).'
                      ) from e
  finally:
    ckpt.close()
