"""Orbax checkpoints of a pytree state: save every N steps, keep the last few, resume
from the newest one that is intact.

Orbax writes each step to a temporary folder and renames it when complete, so an
interrupted save never replaces a good checkpoint. Each finished step also gets a
SHA-256 of its files (`CHECKSUM`): a checkpoint whose bytes were changed later
(a bad disk, a copy cut short) is refused instead of being restored as garbage.
Restoring walks back from the newest step to the first one that verifies and
restores, moves the damaged ones aside to `<directory>.damaged/` and says so.
Saves are synchronous: the states are small, and a failed write (a full disk) is
one error in the caller, not a traceback from a background thread; a Ctrl-C during a
save takes effect once it is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import threading
from typing import Any, Iterator

import jax
import orbax.checkpoint as ocp

from dd3d_jax import devices
from dd3d_jax.errors import UserError

log = logging.getLogger('dd3d_jax')
CHECKSUM = 'dd3d_sha256.json'


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  return text.splitlines()[0][:200] if text else type(e).__name__


def digest(step_dir: str) -> dict[str, str]:
  """{relative path: sha256} of every file of a step folder but the checksum itself."""
  out = {}
  for root, _, files in os.walk(step_dir):
    for name in files:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, step_dir)
      if rel.startswith(CHECKSUM):
        continue
      h = hashlib.sha256()
      with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
          h.update(block)
      out[rel] = h.hexdigest()
  return dict(sorted(out.items()))


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[None]:
  """Holds back a Ctrl-C (SIGINT) until the block is done, then hands it to the handler
  it would have met (Python's default raises KeyboardInterrupt; an ignored SIGINT stays
  ignored): Orbax finishes a save in its own threads, which a Ctrl-C in the middle would
  leave running into the interpreter's exit (and a traceback). Only the main thread gets
  signals."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  caught = []
  previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
  if caught and callable(previous):
    previous(signal.SIGINT, None)
  elif caught and previous == signal.SIG_DFL:
    raise KeyboardInterrupt


class Checkpointer:
  """A `CheckpointManager` in `directory` for one state pytree.

  Args:
    directory: folder of the checkpoints (created if needed).
    every: save when the step is a multiple of this (`save(..., force=True)` always saves).
    keep: number of most recent checkpoints kept.
  """

  def __init__(self, directory: str, every: int, keep: int = 3):
    self.directory = os.path.abspath(directory)
    self._options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, save_interval_steps=every, create=True,
        enable_async_checkpointing=False, cleanup_tmp_directories=True)
    self._manager = ocp.CheckpointManager(self.directory, options=self._options)

  def _step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def verify(self, step: int) -> str | None:
    """None if step's files match their checksum (or it has none); else the problem."""
    path = os.path.join(self._step_dir(step), CHECKSUM)
    if not os.path.exists(path):
      return None  # older than checksums, or stopped between Orbax's commit and this file
    try:
      with open(path) as f:
        expected = json.load(f)
    except (OSError, ValueError) as e:
      return f'its checksum file is damaged ({_first_line(e)})'
    found = digest(self._step_dir(step))
    changed = sorted(set(expected) ^ set(found) | {k for k in expected
                                                   if found.get(k, expected[k]) != expected[k]})
    return f'{len(changed)} files differ from their checksum ({changed[0]})' if changed else None

  def _set_aside(self, step: int, problem: str) -> None:
    target = os.path.join(f'{self.directory}.damaged', str(step))
    n = 1
    while os.path.exists(target):
      target = os.path.join(f'{self.directory}.damaged', f'{step}.{n}')
      n += 1
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.move(self._step_dir(step), target)
    log.warning('checkpoint %s is damaged (%s); moved it to %s and falling back to the one '
                'before.', self._step_dir(step), problem, target)

  def restore_latest(self, like: Any) -> tuple[int, Any]:
    """(step, state) of the newest checkpoint that verifies and restores, shaped like
    `like` (None: as saved, dataclasses as dicts); (0, like) if there is none. Damaged
    newer ones, and step names that are files, are moved aside."""
    abstract = None if like is None else jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    for name in sorted(os.listdir(self.directory)):  # Orbax lists only folders as steps
      if name.isdigit() and not os.path.isdir(self._step_dir(int(name))):
        self._set_aside(int(name), 'a file, not a folder')
    for step in sorted(self._manager.all_steps(), reverse=True):
      problem = self.verify(step)
      if problem is None:
        try:
          return step, self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as e:  # Orbax raises many types for damaged or foreign checkpoints.
          problem = f'{type(e).__name__}: {_first_line(e)}'
      self._set_aside(step, problem)
      self._manager.reload()
    return 0, like

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, force: bool = False) -> bool:
    """Saves when due (or forced) and writes its checksum; returns whether it saved. A
    Ctrl-C during the save takes effect when it is complete, checksum included."""
    try:
      with _deferred_interrupt():
        saved = self._manager.save(step, args=ocp.args.StandardSave(state), force=force)
        if saved and devices.is_writer():  # Orbax itself writes from every process
          step_dir = self._step_dir(step)
          sums, tmp = digest(step_dir), os.path.join(step_dir, CHECKSUM + '.tmp')
          with open(tmp, 'w') as f:
            json.dump(sums, f)
          os.replace(tmp, os.path.join(step_dir, CHECKSUM))
      return saved
    except Exception as e:  # a full disk or lost permissions, from Orbax or from us
      raise UserError(f'cannot save the checkpoint of step {step} in {self.directory} '
                      f'({_first_line(e)}); free some space (or fix the folder), then run the '
                      'same command again: it resumes from the last checkpoint.') from None

  def close(self) -> None:
    """Releases the manager (saves are synchronous: nothing is pending)."""
    self._manager.close()
