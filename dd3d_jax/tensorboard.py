"""TensorBoard events of a job (`config.tensorboard`): metrics.jsonl's lines as scalars and
the sets as point clouds, under `<workdir>/tensorboard/`, one TensorBoard run per folder:

    distill/<method>_<d>/                 a method's distillation d: `loss` and `seconds`
                                          (every number of its metric lines) per step
    sets/<method>_<d>/                    its set (a method that saves sets: not `full`),
                                          at the step it was made (the method's number of
                                          steps): `set/class_008_chair` (named as the PNG
                                          renders), the clouds of class 8 as one point
                                          cloud of the mesh plugin, and so for each class
    eval/<method>/d<d>_<backbone>_s<s>/   one evaluation run (as runs/): `test/<score>`
                                          per tested epoch

Watch a job with `tensorboard --logdir WORKDIR/tensorboard`. tensorboardX writes the
events (`pip install 'dd3d_jax[tensorboard]'`); it is imported only when
`config.tensorboard` is on, and its absence is a `ConfigError` before anything is written.

Live: each event is written and flushed as its line is appended to metrics.jsonl (by
tensorboardX's synchronous event writer, no background thread), so TensorBoard follows a
long job as it goes.

Resuming: metrics.jsonl drops the lines a resumed job writes again (a distillation's after
the checkpoint it resumes from; all of an interrupted evaluation run's), and TensorBoard
drops their events alike. A job writes each folder through one writer, a new event file
that begins with a SessionLog START at the first step the job may write again (the first
step of a resumed distillation; 0 for an evaluation run or a set, made again whole), as
tensorboardX's `SummaryWriter(purge_step=...)` does; TensorBoard's loader then discards
the folder's earlier events from that step on (its Rust data server, a series' events
from any step that comes again). So each step shows once, with the value metrics.jsonl
keeps, and a finished job, which opens no writer, adds nothing. An event file's name ends
in the nanosecond it was opened: tensorboardX names it by the second and overwrites a file
of that name, as a resume within the second would, and TensorBoard reads a folder's files
in the order of their names.

A set is one point cloud per class rather than one for the set: a card of the mesh tab is
titled by its tag, so the class names the card (a set in one card shows nothing that says
which clouds are which class), and the tag filter (`chair`) lines up a class across every
method and distillation, the comparison sets are made for. A class's clouds lie side by
side on a grid, 2.5 radii of the set apart, so that none overlaps another. Points are
coloured by part where the set has part labels, as in its PNG renders
(`render.part_colors`), else by class (the same palette, by class index), and drawn 3
pixels wide at any zoom (the viewer's default, 0.005 units, barely shows a unit cloud).
A set's events take about twice its float32 size (tensorboardX stores colours as floats).
"""

from __future__ import annotations

import math
import os
import time
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from dd3d_jax import devices, render
from dd3d_jax.errors import ConfigError
from dd3d_jax.fields import is_number

LABELS = ('method', 'distill', 'backbone', 'eval')  # name a line's run, not scalars
STEPS = ('iteration', 'epoch')  # a step line's step, a test line's step
GAP = 2.5  # between the centres of a class's clouds, in radii of the set
POINTS = {'material': {'cls': 'PointsMaterial', 'size': 3, 'sizeAttenuation': False}}


def require() -> SimpleNamespace:
  """tensorboardX's summary builders, event writer and Event protos, imported now.

  Raises:
    ConfigError: tensorboardX is not installed (naming the fix).
  """
  try:
    from tensorboardX import event_file_writer, summary
    from tensorboardX.proto import event_pb2, summary_pb2
  except ImportError as e:
    raise ConfigError(f"tensorboard=True needs tensorboardX ({e}); pip install "
                      "'dd3d_jax[tensorboard]', or set --config.tensorboard=False.") from None
  return SimpleNamespace(summary=summary, EventsWriter=event_file_writer.EventsWriter,
                         Event=event_pb2.Event, SessionLog=event_pb2.SessionLog,
                         Summary=summary_pb2.Summary)


def scalars(line: dict) -> tuple[str, int, int, dict[str, float]]:
  """Where one metrics.jsonl line goes: (run folder, step, the step from which its writer
  purges, {tag: value}).

  A step line ({method, distill, iteration, loss, ...}) goes to distill/<method>_<d> at its
  iteration, purging from it; a test line ({method, distill, backbone, eval, epoch,
  test_<score>, ...}) to eval/<method>/d<d>_<backbone>_s<s> at its epoch, purging from 0.
  Every other number is a scalar, `test_<score>` as `test/<score>`.
  """
  if 'iteration' in line:
    run, step = f'distill/{line["method"]}_{line["distill"]}', line['iteration']
    purge = step
  else:
    run = f'eval/{line["method"]}/d{line["distill"]}_{line["backbone"]}_s{line["eval"]}'
    step, purge = line['epoch'], 0
  values = {k.replace('test_', 'test/', 1): float(v) for k, v in line.items()
            if k not in LABELS + STEPS and is_number(v)}
  return run, step, purge, values


def grid(clouds: np.ndarray, gap: float) -> np.ndarray:
  """The clouds side by side: cloud j moved by `gap` times (j % cols, -(j // cols), 0), a
  grid of cols = ceil(sqrt(C)) columns, the first row on top.

  clouds: [C, N, 3] -> [C * N, 3].
  """
  j = np.arange(len(clouds))
  cols = math.ceil(math.sqrt(len(clouds)))
  offsets = np.stack([j % cols, -(j // cols), np.zeros_like(j)], -1) * gap
  return (clouds + offsets[:, None]).reshape(-1, 3)


def class_clouds(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                 parts: np.ndarray | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
  """The point clouds of a set: per class with clouds, (tag, vertices, colours).

  Args:
    points: [M, N, 3]; labels: [M] class indices; parts: [M, N] int global part ids, or
      None to colour by class.
  Returns:
    Per class c with C clouds, `set/class_<c>_<name>`, the vertices [1, C * N, 3] float32
    (`grid`) and their colours [1, C * N, 3] uint8 RGB.
  """
  gap = GAP * float(np.linalg.norm(points, axis=-1).max())
  by_class = render.part_colors(np.arange(len(class_names)))  # [K, 4], the renders' map
  out = []
  for c, name in enumerate(class_names):
    members = np.flatnonzero(labels == c)
    if not len(members):
      continue
    rgba = (render.part_colors(parts[members]) if parts is not None
            else np.broadcast_to(by_class[c], (*points[members].shape[:2], 4)))
    out.append((f'set/class_{c:03d}_{render.safe_name(name)}',
                grid(points[members], gap).astype(np.float32)[None],
                np.round(rgba[..., :3] * 255).astype(np.uint8).reshape(1, -1, 3)))
  return out


class Board:
  """Writes a job's events under `root` (see the module docstring): `line(record)` after
  each metric line, `add_set(...)` for each set made, `close()` (or `with`) at the end.

  With `on` False, or in a process of a job of several that does not write records
  (`devices.is_writer`), it writes nothing; tensorboardX is imported only if `on`.
  """

  def __init__(self, root: str, on: bool):
    self.root = root
    self._tbx = require() if on else None
    self._on = on and devices.is_writer()
    self._run = self._events = None

  def __enter__(self) -> 'Board':
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def _write(self, run: str, purge: int, step: int, summary) -> None:
    """Writes and flushes one event into folder `run`; the job's first event there opens
    its writer (closing the previous folder's: lines come one run after another)."""
    tbx = self._tbx
    if run != self._run:
      self.close()
      folder = os.path.join(self.root, run)
      os.makedirs(folder, exist_ok=True)
      self._events = tbx.EventsWriter(os.path.join(folder, 'events'), f'.{time.time_ns()}')
      self._run = run
      self._events.write_event(tbx.Event(wall_time=time.time(), step=purge, session_log=(
          tbx.SessionLog(status=tbx.SessionLog.START))))
    self._events.write_event(tbx.Event(wall_time=time.time(), step=step, summary=summary))
    self._events.flush()

  def line(self, record: dict) -> None:
    """Writes the scalars of one metrics.jsonl line (`scalars`)."""
    if not self._on:
      return
    run, step, purge, values = scalars(record)
    self._write(run, purge, step, self._tbx.Summary(value=[
        v for tag, x in values.items() for v in self._tbx.summary.scalar(tag, x).value]))

  def add_set(self, method: str, d: int, step: int, points: np.ndarray, labels: np.ndarray,
              class_names: Sequence[str], parts: np.ndarray | None = None) -> None:
    """Writes method's set d, made after `step` steps, to sets/<method>_<d> (`class_clouds`:
    points [M, N, 3], labels [M], parts [M, N] or None)."""
    if not self._on:
      return
    for tag, vertices, colors in class_clouds(points, labels, class_names, parts):
      self._write(f'sets/{method}_{d}', 0, step,
                  self._tbx.summary.mesh(tag, vertices, colors, None, POINTS))

  def close(self) -> None:
    """Closes the open event file, if any."""
    if self._events is not None:
      self._events.close()
    self._run = self._events = None
