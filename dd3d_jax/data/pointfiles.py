"""One point cloud per file: `.ply`, `.npy`, `.txt`, `.xyz`.

`read_cloud(file)` returns the file's x y z as [P, 3] float64:

- `.ply`: ascii, binary_little_endian or binary_big_endian; the vertex element's x y z
  of any numeric type (other properties and elements are ignored);
- `.npy`: a [P, >=3] array, its first 3 columns;
- `.txt` / `.xyz`: whitespace-separated rows, their first 3 columns.

Anything else (another extension, a damaged or truncated file, a pickle) is one
`DataError` naming the file.
"""

from __future__ import annotations

import os

import numpy as np

from dd3d_jax.data import checks
from dd3d_jax.errors import DataError

PLY_TYPES = {'char': 'i1', 'int8': 'i1', 'uchar': 'u1', 'uint8': 'u1', 'short': 'i2',
             'int16': 'i2', 'ushort': 'u2', 'uint16': 'u2', 'int': 'i4', 'int32': 'i4',
             'uint': 'u4', 'uint32': 'u4', 'float': 'f4', 'float32': 'f4', 'double': 'f8',
             'float64': 'f8'}
PLY_FORMATS = {'ascii': '', 'binary_little_endian': '<', 'binary_big_endian': '>'}


def _ply_header(file: str, data: bytes) -> tuple[str, list, int]:
  """(format, [(element, count, [(property, type)])], offset of the body) of a PLY file."""
  end = data.find(b'end_header')
  if not data.startswith(b'ply') or end < 0 or data.find(b'\n', end) < 0:
    raise DataError(f'{file}: not a PLY file (no "ply ... end_header" header); re-export it.')
  fmt, elements = None, []
  try:
    for words in (line.split() for line in data[:end].decode('ascii').splitlines()):
      if words[:1] == ['format']:
        fmt = words[1]
      elif words[:1] == ['element']:
        elements.append((words[1], int(words[2]), []))
      elif words[:1] == ['property']:
        elements[-1][2].append((words[-1], 'list' if words[1] == 'list' else words[1]))
  except (ValueError, IndexError, UnicodeDecodeError):
    raise DataError(f'{file}: malformed PLY header; re-export the file.') from None
  if any(count < 0 for _, count, _ in elements):
    raise DataError(f'{file}: a negative element count in the PLY header; re-export the file.')
  if fmt not in PLY_FORMATS:
    raise DataError(f'{file}: PLY format {fmt!r} is unknown; use one of {sorted(PLY_FORMATS)}.')
  return fmt, elements, data.find(b'\n', end) + 1


def read_ply(file: str) -> np.ndarray:
  """The vertex coordinates of a PLY file: [P, 3] float64."""
  with open(file, 'rb') as f:
    data = f.read()
  fmt, elements, start = _ply_header(file, data)
  names = [e[0] for e in elements]
  if 'vertex' not in names:
    raise DataError(f'{file}: no "element vertex" in the PLY header; re-export the file.')
  before, vertex = elements[:names.index('vertex')], elements[names.index('vertex')]
  count, columns = vertex[1], [p for p, _ in vertex[2]]
  if not {'x', 'y', 'z'} <= set(columns):
    raise DataError(f'{file}: the vertex element has properties {columns}, not x y z; '
                    f're-export it with vertex x y z.')
  if fmt == 'ascii':
    lines = data[start:].decode('ascii', 'replace').splitlines()
    skip = sum(e[1] for e in before)
    if len(lines) < skip + count:
      raise DataError(f'{file}: truncated PLY file (fewer lines than the header says); '
                      f're-export it.')
    if count == 0:
      return np.zeros((0, 3))
    table = np.loadtxt(lines[skip:skip + count], dtype=np.float64, ndmin=2)
    if table.shape[1] <= max(columns.index(a) for a in 'xyz'):
      raise DataError(f'{file}: vertex rows have {table.shape[1]} values, fewer than the header\'s '
                      f'properties {columns}; re-export it.')
    return table[:, [columns.index(a) for a in 'xyz']]
  if any(t not in PLY_TYPES for e in before + [vertex] for _, t in e[2]):
    raise DataError(f'{file}: a list or unknown property type before or in the vertex element; '
                    f're-export it with vertices first and scalar properties.')
  dtypes = [np.dtype([(p, PLY_FORMATS[fmt] + PLY_TYPES[t]) for p, t in e[2]])
            for e in before + [vertex]]
  offset = start + sum(e[1] * d.itemsize for e, d in zip(before, dtypes))
  if len(data) < offset + count * dtypes[-1].itemsize:
    raise DataError(f'{file}: truncated PLY file (fewer bytes than the header says); re-export it.')
  table = np.frombuffer(data, dtypes[-1], count, offset)
  return np.stack([table[a].astype(np.float64) for a in 'xyz'], axis=1)


def _read_npy(file: str) -> np.ndarray:
  with open(file, 'rb') as f:
    magic = f.read(6)
  if magic != b'\x93NUMPY':
    raise DataError(f'{file}: not a .npy file (no NumPy header: damaged, cut short or another '
                    'format); save the cloud with np.save(file, np.asarray(points, np.float32)).')
  try:
    cloud = np.load(file, allow_pickle=False)
  except ValueError as e:
    if 'pickle' in str(e) or 'Object arrays' in str(e):
      raise DataError(f'{file}: holds an object array (a Python pickle, never loaded); save the '
                      'cloud with np.save(file, np.asarray(points, np.float32)).') from None
    raise
  if cloud.ndim != 2 or cloud.shape[1] < 3:
    raise DataError(f'{file}: array has shape {cloud.shape}, expected [P, >=3]; save x y z '
                    'as the first three columns.')
  return cloud[:, :3]


def _read_table(file: str) -> np.ndarray:
  return checks.load_table(file, 're-export it', usecols=(0, 1, 2))


LOADERS = {'.ply': read_ply, '.npy': _read_npy, '.txt': _read_table, '.xyz': _read_table}


def read_cloud(file: str) -> np.ndarray:
  """One point file (any supported extension): [P, 3] float."""
  ext = os.path.splitext(file)[1].lower()
  if ext not in LOADERS:
    raise DataError(f'{file}: unknown point-file extension; use one of {sorted(LOADERS)}.')
  checks.require_file(file)
  try:
    return LOADERS[ext](file)
  except (ValueError, OSError) as e:
    raise DataError(f'{file}: unreadable point file ({checks.detail(e)}); '
                    f're-export it.') from None
