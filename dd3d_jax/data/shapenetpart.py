"""ShapeNet-part (16 shape classes, 50 part classes) in its two published layouts.

(a) `hdf5_data/`: `ply_data_train{0..5}.h5`, `ply_data_val0.h5`, `ply_data_test{0,1}.h5`
    with `data` (n, 2048, 3) float, `label` (n, 1) shape class and `pid` (n, 2048) part
    id 0..49; `all_object_categories.txt` lines `Airplane<TAB>02691156` (line i = class i).
(b) `shapenetcore_partanno_segmentation_benchmark_v0_normal/`: one folder per synset
    of `<id>.txt` files with rows `x y z nx ny nz part` (part: global part id),
    `synsetoffset2category.txt` (same lines as above) and
    `train_test_split/shuffled_{train,val,test}_file_list.json` (JSON lists of
    `shape_data/<synset>/<id>`).
In both, 'train' is train + val (14,007 shapes, as in the paper) and 'test' is test.
"""

from __future__ import annotations

import glob
import json
import os
import re

import numpy as np

from dd3d_jax.data import checks
from dd3d_jax.data.dataset import PointCloudDataset, Split
from dd3d_jax.errors import DataError

NUM_PARTS = 50
# Class c owns the global part ids PART_OFFSETS[c] ... PART_OFFSETS[c] + PART_COUNTS[c] - 1.
PART_OFFSETS = (0, 4, 6, 8, 12, 16, 19, 22, 24, 28, 30, 36, 38, 41, 44, 47)
PART_COUNTS = (4, 2, 2, 4, 4, 3, 3, 2, 4, 2, 6, 2, 3, 3, 3, 3)
# The authors' table of each class's part proportions (ShapeNet-part order: airplane, bag,
# cap, car, chair, earphone, guitar, knife, lamp, laptop, motorbike, mug, pistol, rocket,
# skateboard, table); synthetic points get part labels in these shares.
OFFICIAL_PROPORTIONS = (
    (.4508, .3264, .1274, .0955), (.0671, .9329), (.7387, .2613), (.0537, .0712, .1603, .7149),
    (.3400, .4130, .2136, .0334), (.5984, .2643, .1373), (.0863, .1935, .7202), (.5088, .4912),
    (.1646, .5967, .0124, .2263), (.5347, .4653), (.0484, .0385, .2335, .0148, .0070, .6578),
    (.0608, .9392), (.6599, .2862, .0539), (.7091, .1818, .1091), (.1131, .8122, .0747),
    (.7417, .2301, .0283))
LISTS = ('train', 'val', 'test')
SPLITS = {'train': ('train', 'val'), 'test': ('test',)}


def part_proportions(parts: np.ndarray, labels: np.ndarray, num_classes: int,
                     offsets=PART_OFFSETS, counts=PART_COUNTS) -> np.ndarray:
  """Each class's share of each of its parts over the given (training) clouds.

  Args:
    parts: [N, P] global part ids; labels: [N] class ids in [0, num_classes).
  Returns:
    [num_classes, max(counts)] float32, row c = shares of class c's local parts
    (zero-padded past counts[c]); rows sum to 1 (a class without clouds: zeros).
  """
  offsets, counts = np.asarray(offsets[:num_classes]), np.asarray(counts[:num_classes])
  local = parts - offsets[labels][:, None]
  bad = (local < 0) | (local >= counts[labels][:, None])
  if bad.any():
    i = int(np.argmax(bad.any(axis=1)))
    raise DataError(f'cloud {i} of class {int(labels[i])} has part id '
                    f'{int(parts[i][bad[i]][0])}, outside its class\'s parts; the part '
                    f'labels do not follow the ShapeNet-part layout.')
  width = int(counts.max())
  totals = np.bincount((labels[:, None] * width + local).ravel(),
                       minlength=num_classes * width).reshape(num_classes, width)
  return (totals / np.maximum(totals.sum(axis=1, keepdims=True), 1)).astype(np.float32)


def official_proportions() -> np.ndarray:
  """`OFFICIAL_PROPORTIONS` as `part_proportions` returns shares: [16, 6] float32,
  zero-padded past each class's part count."""
  table = np.zeros((len(OFFICIAL_PROPORTIONS), max(PART_COUNTS)), np.float32)
  for c, row in enumerate(OFFICIAL_PROPORTIONS):
    table[c, :len(row)] = row
  return table


def _category_rows(path: str) -> list[list[str]]:
  """`Name<TAB>synset` rows of a category file."""
  rows = [line.split() for line in checks.read_class_names(path)]
  if any(len(row) != 2 for row in rows):
    raise DataError(f'{path}: expected lines "Name<TAB>synset"; re-download the dataset.')
  return rows


def _numbered_h5(folder: str, stem: str) -> list[str]:
  """`ply_data_<stem><k>.h5` files, sorted by k."""
  pattern = re.compile(rf'ply_data_{stem}(\d+)\.h5$')
  found = [(int(m.group(1)), f) for f in glob.glob(os.path.join(folder, f'ply_data_{stem}*.h5'))
           if (m := pattern.search(f))]
  return [f for _, f in sorted(found)]


def read_shapenetpart_h5(path: str, min_points: int = 1) -> PointCloudDataset:
  """Reads layout (a) (raw clouds): [N, P, 3] points, [N] labels, [N, P] parts."""
  checks.require_dir(path)
  names = tuple(r[0] for r in _category_rows(os.path.join(path, 'all_object_categories.txt')))
  splits = {}
  for split, stems in SPLITS.items():
    files = [f for stem in stems for f in _numbered_h5(path, stem)]
    if not files:
      raise DataError(f'{path}: no ply_data_{split}<k>.h5 files; re-download hdf5_data.')
    checked = []
    for file in files:
      arrays = checks.read_h5(file, ('data', 'label', 'pid'))
      checked.append(checks.check_clouds(file, arrays['data'], arrays['label'], len(names),
                                      min_points, arrays['pid'], NUM_PARTS))
    points, labels, parts = zip(*checked)
    if len({p.shape[1] for p in points}) > 1:
      raise DataError(f'{path}: the {split} files have different points per cloud '
                      f'({sorted({p.shape[1] for p in points})}); use files of one resolution.')
    splits[split] = Split(*(np.concatenate(a) for a in (points, labels, parts)))
  checks.check_classes_present(path, splits['train'].labels, names)
  return PointCloudDataset('shapenetpart', names, splits, source=path, num_parts=NUM_PARTS)


def _read_txt_cloud(file: str, label: int, num_classes: int) -> np.ndarray:
  """One `x y z nx ny nz part` file, checked: [P, 4] float64 rows `x y z part` (the
  coordinates exactly as float32 holds them; normals are not read)."""
  cloud = checks.load_table(file, 're-download the dataset')
  if cloud.shape[1] != 7:
    raise DataError(f'{file}: rows have {cloud.shape[1]} columns, expected 7 '
                    f'(x y z nx ny nz part); re-download the dataset.')
  points, _, parts = checks.check_clouds(file, cloud[None, :, :3], np.array([label]), num_classes,
                                         parts=cloud[None, :, 6], num_parts=NUM_PARTS)
  return np.concatenate([points[0], parts[0][:, None]], axis=1).astype(np.float64)


def _read_file_list(list_file: str) -> list[str]:
  """A `shuffled_*_file_list.json`: entries `shape_data/<synset>/<id>`."""
  try:
    entries = json.loads(checks.read_text(list_file, 're-download the dataset'))
  except (ValueError, RecursionError):
    entries = None
  if not isinstance(entries, list) or not all(isinstance(e, str) and '/' in e for e in entries):
    raise DataError(f'{list_file}: not a JSON list of "shape_data/<synset>/<id>" strings; '
                    f're-download the dataset.')
  return entries


def read_shapenetpart_txt(path: str, num_points: int, seed: int = 0,
                          allow_resample: bool = False) -> PointCloudDataset:
  """Reads layout (b), each cloud subsampled to `num_points` as it is read.

  The points kept are random but reproducible: drawn with a generator seeded by
  (seed, list, position of the file in its list). A cloud with fewer than `num_points`
  points is an error naming its file, unless `allow_resample`: then all its points are
  kept and the rest is filled by resampling its own points with replacement.

  Returns: [N, num_points, 3] points, [N] labels and [N, num_points] parts per split.
  """
  checks.require_dir(path)
  category_file = os.path.join(path, 'synsetoffset2category.txt')
  rows = _category_rows(category_file)
  names, labels_of = tuple(r[0] for r in rows), {r[1]: i for i, r in enumerate(rows)}
  splits = {}
  for split, stems in SPLITS.items():
    points, labels, parts, sizes = [], [], [], []
    for stem in stems:
      list_file = os.path.join(path, 'train_test_split', f'shuffled_{stem}_file_list.json')
      entries = _read_file_list(list_file)
      for position, entry in enumerate(entries):
        synset, shape_id = entry.split('/')[-2:]
        if synset not in labels_of:
          raise DataError(f'{list_file}: lists {entry!r}, whose synset is not in '
                          f'{category_file}; re-download the dataset.')
        file = os.path.join(path, synset, f'{shape_id}.txt')
        cloud = _read_txt_cloud(file, labels_of[synset], len(names))
        rng = np.random.default_rng([seed, LISTS.index(stem), position])
        sizes.append(len(cloud))
        cloud = checks.take_points(file, cloud, num_points, rng, allow_resample)
        points.append(cloud[:, :3].astype(np.float32))
        parts.append(cloud[:, 3].astype(np.int32))
        labels.append(labels_of[synset])
    if not points:
      raise DataError(f'{path}: the {split} file lists are empty; re-download the dataset.')
    splits[split] = Split(np.stack(points), np.array(labels, np.int32), np.stack(parts),
                          np.array(sizes, np.int64))
  checks.check_classes_present(os.path.join(path, 'train_test_split'), splits['train'].labels,
                               names)
  return PointCloudDataset('shapenetpart', names, splits, source=path, num_parts=NUM_PARTS)
