"""Records in plain formats: JSON, JSON lines and .npz (no pickles).

Files are written to a temporary name and renamed, so an interrupted write never
leaves a truncated result in place of a good one.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np


def write_json(path: str, obj) -> None:
  """Atomically writes `obj` as indented JSON."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2)
    f.write('\n')
  os.replace(tmp, path)


def append_jsonl(path: str, record: dict) -> None:
  """Appends one JSON line."""
  with open(path, 'a') as f:
    f.write(json.dumps(record) + '\n')


def write_jsonl(path: str, records: list[dict]) -> None:
  """Atomically replaces a JSON-lines file with `records`."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in records)
  os.replace(tmp, path)


def read_jsonl(path: str) -> list[dict]:
  """All records of a JSON-lines file ([] if it does not exist)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def save_set(path: str, points: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
             parts: np.ndarray | None = None) -> None:
  """Saves a point-cloud set as .npz: points [M, N, 3] float32, labels [M] int32,
  class_names [K] unicode, and parts [M, N] int32 if given. Loadable with
  `np.load(path)` (no pickle needed)."""
  tmp = path + '.tmp.npz'
  arrays = {'points': np.asarray(points, np.float32), 'labels': np.asarray(labels, np.int32),
            'class_names': np.asarray(list(class_names), dtype=str)}
  if parts is not None:
    arrays['parts'] = np.asarray(parts, np.int32)
  np.savez_compressed(tmp, **arrays)
  os.replace(tmp, path)
