"""Records in plain formats: JSON, JSON lines and .npz (no pickles).

Files are written to a temporary name and renamed, so an interrupted write never
leaves a truncated result in place of a good one. In a job of several processes only
process 0 writes (`devices.is_writer`); the others compute the same and skip.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Sequence

import numpy as np

from dd3d_jax import devices
from dd3d_jax.errors import UserError


@contextlib.contextmanager
def naming(path: str):
  """Gives an OSError raised inside (a write that hit a full disk) the path it was
  writing, so that the one-line error can name it."""
  try:
    yield
  except OSError as e:
    if e.filename is None:
      raise OSError(e.errno, e.strerror or str(e), path) from None
    raise


def _replace(tmp: str, path: str, write) -> None:
  """Writes with `write(file)` to `tmp`, then renames it to `path`; a failed write
  leaves `path` as it was and removes `tmp`."""
  if not devices.is_writer():
    return
  try:
    with naming(path), open(tmp, 'w') as f:
      write(f)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def write_json(path: str, obj) -> None:
  """Atomically writes `obj` as indented JSON."""
  _replace(path + '.tmp', path, lambda f: f.write(json.dumps(obj, indent=2) + '\n'))


def append_jsonl(path: str, record: dict) -> None:
  """Appends one JSON line (in one write)."""
  if not devices.is_writer():
    return
  with naming(path), open(path, 'a') as f:
    f.write(json.dumps(record) + '\n')


def write_jsonl(path: str, records: list[dict]) -> None:
  """Atomically replaces a JSON-lines file with `records`."""
  _replace(path + '.tmp', path, lambda f: f.writelines(json.dumps(r) + '\n' for r in records))


def read_jsonl(path: str) -> list[dict]:
  """All records (JSON objects) of a JSON-lines file ([] if it does not exist). A torn
  last line (an append cut short) is skipped; a damaged line before it (not JSON, or
  not an object) is a `UserError`."""
  if not os.path.exists(path):
    return []
  with open(path, errors='replace') as f:  # bytes that are not UTF-8: a damaged line
    lines = f.read().split('\n')
  out = []
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
      if not isinstance(record, dict):
        raise ValueError('not a JSON object')
      out.append(record)
    except ValueError:
      if i == len(lines) - 1:  # no newline after it: the write was cut short
        continue
      raise UserError(f'{path} line {i + 1} is damaged; delete that line (or the file: it is a '
                      'log that no result depends on) and run again.') from None
  return out


def save_set(path: str, points: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
             key: str | None = None, targets: np.ndarray | None = None,
             storage: int | None = None) -> None:
  """Saves a point-cloud set as .npz: points [M, N, 3] float32, labels [M] int32,
  class_names [K] unicode, the task's targets under `key` if it names one (part
  segmentation: 'parts' [M, N] int32), and `storage`, an int64 scalar, if given: the
  numbers the method stores for it (`methods.stored_values`). Loadable with
  `np.load(path)` (no pickle needed)."""
  arrays = {'points': np.asarray(points, np.float32), 'labels': np.asarray(labels, np.int32),
            'class_names': np.asarray(list(class_names), dtype=str)}
  if key is not None:
    arrays[key] = np.asarray(targets)
  if storage is not None:
    arrays['storage'] = np.int64(storage)
  write_npz(path, **arrays)


def load_storage(path: str) -> int | None:
  """The `storage` of a `save_set` file; None for files written before it was recorded."""
  with np.load(path) as f:
    return int(f['storage']) if 'storage' in f.files else None


def load_set(path: str, key: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(points, labels, targets) of a `save_set` file: the targets are the array `key`
  names, or the labels when it names none."""
  with np.load(path) as f:
    return f['points'], f['labels'], f[key] if key is not None else f['labels']


def write_npz(path: str, **arrays) -> None:
  """Atomically writes compressed arrays to `path` (a .npz)."""
  if not devices.is_writer():
    return
  tmp = path + '.tmp.npz'
  try:
    with naming(path):
      np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise
