"""Orbax checkpoints of a pytree state: save every N steps, keep the last few, resume.

Orbax writes each step to a temporary folder and renames it when complete, so an
interrupted save never replaces a good checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from dd3d_jax.errors import UserError


class Checkpointer:
  """A `CheckpointManager` in `directory` for one state pytree.

  Args:
    directory: folder of the checkpoints (created if needed).
    every: save when the step is a multiple of this (`save(..., force=True)` always saves).
    keep: number of most recent checkpoints kept.
  """

  def __init__(self, directory: str, every: int, keep: int = 3):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=every,
                                           create=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore_latest(self, like: Any) -> Any | None:
    """The latest saved state, shaped like `like`, or None if there is none."""
    step = self._manager.latest_step()
    if step is None:
      return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    try:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # Orbax raises many types for damaged or foreign checkpoints.
      raise UserError(f'checkpoint {os.path.join(self.directory, str(step))} cannot be restored '
                      f'({type(e).__name__}: {str(e).splitlines()[0][:200]}); it was written by '
                      'a different config or is damaged: use a new --workdir, or delete that '
                      'step folder to resume from the one before.') from None

  def save(self, step: int, state: Any, force: bool = False) -> bool:
    """Saves asynchronously when due (or forced); returns whether it saved."""
    return self._manager.save(step, args=ocp.args.StandardSave(state), force=force)

  def close(self) -> None:
    """Waits for pending saves and releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()
