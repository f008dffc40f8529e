"""ScanObjectNN as released in `h5_files/`.

Layout: `main_split/` (OBJ_BG, and PB_T50_RS as `*_augmentedrot_scale75.h5`) and
`main_split_nobg/` (OBJ_ONLY), each with `training_objectdataset*.h5` and
`test_objectdataset*.h5`; keys `data` (n, 2048, 3) float and `label` (n,) int
(`mask` is ignored). `path` may be the `h5_files` folder or the split folder itself.
"""

from __future__ import annotations

import os

from dd3d_jax.data import checks
from dd3d_jax.data.dataset import PointCloudDataset, Split
from dd3d_jax.errors import ConfigError

CLASS_NAMES = ('bag', 'bin', 'box', 'cabinet', 'chair', 'desk', 'display', 'door', 'shelf',
               'table', 'bed', 'pillow', 'sink', 'sofa', 'toilet')
# variant -> (split folder, file suffix)
VARIANTS = {'obj_bg': ('main_split', ''),
            'obj_only': ('main_split_nobg', ''),
            'pb_t50_rs': ('main_split', '_augmentedrot_scale75')}


def split_files(path: str, variant: str) -> dict[str, str]:
  """{'train': file, 'test': file} of a variant, under `path` or `path/<split folder>`."""
  if variant not in VARIANTS:
    raise ConfigError(f'data.variant {variant!r} is unknown for ScanObjectNN; use one of '
                      f'{sorted(VARIANTS)}.')
  folder, suffix = VARIANTS[variant]
  names = {'train': f'training_objectdataset{suffix}.h5', 'test': f'test_objectdataset{suffix}.h5'}
  if not os.path.isfile(os.path.join(path, names['train'])):
    path = checks.require_dir(os.path.join(path, folder))
  return {split: os.path.join(path, name) for split, name in names.items()}


def read_scanobjectnn_h5(path: str, variant: str = 'obj_bg',
                         min_points: int = 1) -> PointCloudDataset:
  """Reads one ScanObjectNN variant (raw clouds, not normalised).

  Args:
    path: the `h5_files` folder, or directly the variant's split folder.
    variant: 'obj_bg', 'obj_only' or 'pb_t50_rs'.
    min_points: every cloud must have at least this many points (data.num_points).
  Returns:
    name 'scanobjectnn_<variant>', 15 classes, 'train' and 'test' splits of
    [N, P, 3] points and [N] labels.
  """
  checks.require_dir(path)
  files, splits = split_files(path, variant), {}
  for split, file in files.items():
    arrays = checks.read_h5(file, ('data', 'label'))
    points, labels, _ = checks.check_clouds(file, arrays['data'], arrays['label'],
                                            len(CLASS_NAMES), min_points)
    splits[split] = Split(points, labels)
  checks.check_classes_present(files['train'], splits['train'].labels, CLASS_NAMES)
  return PointCloudDataset(f'scanobjectnn_{variant}', CLASS_NAMES, splits, source=path)
