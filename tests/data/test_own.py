"""Your own data: class folders of point files, a plain h5 pair, npz in every form, and
what `auto`, `inspect` and the config fields make of them."""

import json
import os
import re

import h5py
import numpy as np
import pytest

from dd3d_jax import config, records
from dd3d_jax import data as data_lib
from dd3d_jax.data import folders, h5pair, inspect, npz, preprocess
from dd3d_jax.data.dataset import holdout
from dd3d_jax.errors import ConfigError, DataError

P = 32
NAMES = ('car', 'fence', 'pole')


def cloud(seed, size, offset=0.0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(size, 3)) * (1 + seed % 3) + offset


def write_folders(root, sizes=(40, 50, 60, 70, 80), layout='flat', ext='.xyz', offset=None):
  """Three classes of `len(sizes)` clouds each; layout 'flat' (<class>/), 'class_split'
  (<class>/<split>/) or 'split_class' (<split>/<class>/). Returns {file: cloud}."""
  written = {}
  for c, name in enumerate(NAMES):
    for i, size in enumerate(sizes):
      split = 'test' if i == 0 else 'train'
      folder = {'flat': (root, name), 'class_split': (root, name, split),
                'split_class': (root, split, name)}[layout]
      os.makedirs(os.path.join(*folder), exist_ok=True)
      file = os.path.join(*folder, f'obj{i}{ext}')
      points = cloud(10 * c + i, size, 0.0 if offset is None else offset)
      if ext == '.npy':
        np.save(file, points)
      else:
        np.savetxt(file, points, fmt='%.6f' if offset is None else '%.4f')
      written[file] = points
  return written


def data_config(**fields):
  cfg = config.base_config().data
  cfg.update(fields)
  return cfg


# --- holdout ---------------------------------------------------------------------------

def test_holdout_is_stratified_seeded_and_never_takes_a_whole_class():
  labels = np.array([0] * 10 + [1] * 3 + [2] * 1 + [3] * 2)
  test = holdout(labels, 4, 0.2, seed=5)
  assert [int(test[labels == c].sum()) for c in range(4)] == [2, 1, 0, 1]
  np.testing.assert_array_equal(test, holdout(labels, 4, 0.2, seed=5))
  assert not np.array_equal(test, holdout(labels, 4, 0.2, seed=6))
  assert holdout(labels, 4, 0.99, seed=0)[labels == 0].sum() == 9  # one always trains


# --- class folders ---------------------------------------------------------------------

@pytest.mark.parametrize('layout', ['flat', 'class_split', 'split_class'])
def test_class_folders_layouts(tmp_path, layout):
  written = write_folders(str(tmp_path), layout=layout)
  assert data_lib.detect_format(str(tmp_path)) == 'class_folders'
  ds = folders.read_folders(str(tmp_path), P, seed=0, test_fraction=0.2)
  assert ds.class_names == NAMES and ds.name == os.path.basename(str(tmp_path))
  assert ds.train.points.shape == (12, P, 3) and ds.test.points.shape == (3, P, 3)
  assert sorted(ds.train.sizes.tolist() + ds.test.sizes.tolist()) == sorted(
      len(c) for c in written.values())
  if layout != 'flat':  # the folders' split: obj0 tests
    assert sorted(ds.test.sizes.tolist()) == [40, 40, 40]
  again = folders.read_folders(str(tmp_path), P, seed=0)
  np.testing.assert_array_equal(ds.train.points, again.train.points)
  # Every kept point is a point of its file, centred on the file's mean.
  kept = ds.train.points[ds.train.sizes == 80][0]
  candidates = [c - c.mean(0) for c in written.values() if len(c) == 80]
  assert any(np.abs(kept[:, None] - c[None]).sum(-1).min(1).max() < 1e-4 for c in candidates)


def test_class_folders_seeded_split_and_short_clouds(tmp_path):
  write_folders(str(tmp_path), sizes=(10, 50, 60, 70, 80))
  with pytest.raises(DataError, match=r'obj0.xyz: the cloud has 10 points, fewer than the 32 '
                                      r'requested; lower data.num_points to 10 or less \(or add '
                                      r'--config.data.allow_resample=True'):
    folders.read_folders(str(tmp_path), P)
  ds = folders.read_folders(str(tmp_path), P, allow_resample=True, test_fraction=0.4)
  assert (len(ds.train), len(ds.test)) == (9, 6)
  other = folders.read_folders(str(tmp_path), P, seed=1, allow_resample=True, test_fraction=0.4)
  assert sorted(ds.test.sizes) != sorted(other.test.sizes) or not np.array_equal(
      ds.test.points, other.test.points)


def test_class_folders_keep_the_precision_of_far_coordinates(tmp_path):
  """UTM metres (~6e6) in float32 would lose the shape of a 2 m object; the reader
  centres each cloud in float64 first."""
  near = write_folders(str(tmp_path / 'near'), sizes=(P,) * 3)
  far = write_folders(str(tmp_path / 'far'), sizes=(P,) * 3, offset=np.array([4e5, 5.8e6, 40.]))
  a = folders.read_folders(str(tmp_path / 'near'), P)
  b = folders.read_folders(str(tmp_path / 'far'), P)
  assert len(near) == len(far)
  np.testing.assert_allclose(a.train.points, b.train.points, atol=2e-3)


def test_class_folders_refusals_say_what_was_found(tmp_path):
  write_folders(str(tmp_path))
  os.makedirs(tmp_path / 'empty')
  (tmp_path / 'empty' / 'scan.las').write_bytes(b'x')
  with pytest.raises(DataError, match=r"empty: class 'empty' holds no point file \(looked for "
                                      r"\.npy, \.ply, \.txt, \.xyz; found scan.las\)"):
    folders.read_folders(str(tmp_path), P)
  os.remove(tmp_path / 'empty' / 'scan.las')
  os.rmdir(tmp_path / 'empty')
  os.makedirs(tmp_path / 'car' / 'train')
  with pytest.raises(DataError, match=r'has no train/ folder, but .*car has one; give every '
                                      r'class train/ and test/ folders, or none'):
    folders.read_folders(str(tmp_path), P)


# --- plain h5 pair ---------------------------------------------------------------------

def write_pair(folder, columns=3, names=None, label_shape=(-1, 1), parts=False):
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(0)
  for split, n in (('train', 9), ('test', 3)):
    with h5py.File(os.path.join(folder, f'{split}.h5'), 'w') as f:
      f['data'] = rng.normal(size=(n, 40, columns)).astype(np.float32)
      f['label'] = (np.arange(n) % 3).reshape(label_shape).astype(np.int64)
      if parts:
        f['pid'] = rng.integers(0, 4, (n, 40))
      if names is not None and split == 'train':
        f['class_names'] = np.array(names, dtype='S')
  return folder


def test_h5_pair_reads_and_names_classes(tmp_path):
  folder = write_pair(str(tmp_path / 'beams'), columns=6)
  assert data_lib.detect_format(folder) == 'h5_pair'
  ds = h5pair.read_h5_pair(folder)
  assert ds.name == 'beams' and ds.class_names == ('class_0', 'class_1', 'class_2')
  assert ds.train.points.shape == (9, 40, 3) and ds.test.labels.tolist() == [0, 1, 2]
  with open(os.path.join(folder, 'shape_names.txt'), 'w') as f:
    f.write('beam\ncolumn\nslab\n')
  assert h5pair.read_h5_pair(folder).class_names == ('beam', 'column', 'slab')
  assert data_lib.detect_format(folder) == 'h5_pair'  # names without list files: still a pair
  named = write_pair(str(tmp_path / 'named'), names=['a', 'b', 'c'], parts=True)
  ds = h5pair.read_h5_pair(named)
  assert ds.class_names == ('a', 'b', 'c') and ds.train.parts.shape == (9, 40)


def test_h5_pair_refusals(tmp_path):
  folder = write_pair(str(tmp_path / 'p'))
  with h5py.File(os.path.join(folder, 'test.h5'), 'a') as f:
    del f['label']
  with pytest.raises(DataError, match=r"test.h5: no label or labels array \(the file has "
                                      r"\['data'\]\)"):
    h5pair.read_h5_pair(folder)
  os.remove(os.path.join(folder, 'test.h5'))
  with pytest.raises(DataError, match=r'no \*test\*.h5 file \(found 1 h5 files: train.h5\); '
                                      r'name each file after its split'):
    h5pair.read_h5_pair(folder)


def test_a_format_chosen_by_hand_that_does_not_fit_suggests_auto(tmp_path):
  folder = write_pair(str(tmp_path / 'p'))
  with pytest.raises(DataError, match=r"not read as data.format='modelnet40_h5' \(.*\), but it "
                                      r"has the h5_pair layout; set data.format=auto \(or "
                                      r"'h5_pair'\)"):
    data_lib.read(data_config(format='modelnet40_h5', path=folder))


# --- npz in every form -----------------------------------------------------------------

def test_npz_one_set_ragged_and_the_packages_own_sets(tmp_path):
  sizes = [20, 40, 60, 35, 45, 50]
  clouds = [cloud(i, s) for i, s in enumerate(sizes)]
  file = str(tmp_path / 'ragged.npz')
  np.savez(file, points=np.concatenate(clouds), lengths=sizes, labels=[0, 1, 0, 1, 0, 1])
  with pytest.raises(DataError, match=r'cloud 0 of points: the cloud has 20 points'):
    npz.read_npz(file, 30)
  ds = npz.read_npz(file, 30, allow_resample=True, test_fraction=0.34)
  assert ds.class_names == ('class_0', 'class_1') and ds.name == 'ragged'
  assert (len(ds.train), len(ds.test)) == (4, 2) and ds.train.points.shape[1] == 30
  assert sorted([*ds.train.sizes, *ds.test.sizes]) == sorted(sizes)
  np.savez(file, points=np.concatenate(clouds), lengths=sizes[:-1], labels=[0, 1, 0, 1, 0, 1])
  with pytest.raises(DataError, match=r'lengths has 5 sizes summing to 200, for 6 labels and 250 '
                                      r'points'):
    npz.read_npz(file, 30)
  own = str(tmp_path / 'dd3d_0.npz')  # a set file of this package reads as data
  records.save_set(own, np.stack([cloud(i, 40) for i in range(4)]), [0, 0, 1, 1], ['a', 'b'],
                   storage=480)
  ds = data_lib.read(data_config(format='auto', path=own, num_points=40))
  assert ds.class_names == ('a', 'b') and (len(ds.train), len(ds.test)) == (2, 2)


def test_npz_missing_arrays_are_named_together(tmp_path):
  file = str(tmp_path / 'x.npz')
  np.savez(file, train_points=np.zeros((2, 5, 3)), class_names=['a'])
  with pytest.raises(DataError, match=r'missing arrays train_labels, test_points, test_labels '
                                      r'\(the file has class_names, train_points; looked for '
                                      r'train_points, train_labels, test_points, test_labels\)'):
    npz.read_npz(file)
  np.savez(file, xyz=np.zeros((2, 5, 3)))
  with pytest.raises(DataError, match=r'missing arrays points, labels \(the file has xyz; looked '
                                      r'for train_points, .*, or points, labels \(one set, split '
                                      r'by data.test_fraction\)\)'):
    npz.read_npz(file)


# --- auto, name, scale, inspect --------------------------------------------------------

def test_no_known_layout_says_what_it_looked_for_and_found(tmp_path):
  os.makedirs(tmp_path / 'scans')
  (tmp_path / 'scans' / 'a.las').write_bytes(b'x')
  (tmp_path / 'notes.md').write_text('x')
  with pytest.raises(DataError, match=r'no known dataset layout \(.*a plain h5 pair needs '
                                      r'\*train\*.h5 and \*test\*.h5 .*class folders need '
                                      r'<class>/ folders of .ply, .npy, .txt or .xyz files.*\); '
                                      r'found 1 folder \(scans/\) and 1 file \(notes.md\)'):
    data_lib.detect_format(str(tmp_path))


def test_data_name_and_dataset_scale(tmp_path):
  write_folders(str(tmp_path), sizes=(P,) * 5)
  cfg = data_config(format='auto', path=str(tmp_path), num_points=P, name='poles')
  assert data_lib.read(cfg).name == 'poles'
  cfg.scale = 'dataset'
  ds = data_lib.load(cfg)
  raw = folders.read_folders(str(tmp_path), P)
  radius = np.linalg.norm(ds.train.points, axis=-1).max(axis=1)
  raw_radius = np.linalg.norm(raw.train.points, axis=-1).max(axis=1)
  assert radius.max() == pytest.approx(1.0, abs=1e-6) and ds.scale == pytest.approx(
      raw_radius.max(), rel=1e-5)
  np.testing.assert_allclose(radius / radius.max(), raw_radius / raw_radius.max(), rtol=1e-5)
  unit = data_lib.load(data_config(format='auto', path=str(tmp_path), num_points=P))
  assert unit.scale is None
  np.testing.assert_allclose(np.linalg.norm(unit.train.points, axis=-1).max(1), 1, atol=1e-4)
  with pytest.raises(DataError, match="data.scale 'metres' is unknown"):
    preprocess.prepare(raw, P, False, scale='metres')
  with pytest.raises(ConfigError, match=r'data.path is empty; set --config.data.path to your '
                                        r'data \(its folder or .npz file\)'):
    data_lib.read(data_config(format='auto'))


def test_inspect_reports_raw_sizes_and_takes_mains_data_flags(tmp_path, capsys):
  write_folders(str(tmp_path), sizes=(10, 50, 60, 70, 80))
  assert inspect.main([str(tmp_path), '--json', '--num-points', '32']) == 0
  out = capsys.readouterr().out.strip().splitlines()
  report = json.loads(out[-1])
  assert report['format'] == 'class_folders' and report['points'] == 32
  everything = sorted([report['sizes'][s][k] for s in ('train', 'test')
                       for k in ('min', 'max')])
  assert everything[0] == 10 and everything[-1] == 80
  assert any(re.match(r'note: 3 clouds have fewer than data.num_points=32 points \(the fewest '
                      r'10\); main refuses them as they are: add '
                      r'--config.data.allow_resample=True', line) for line in out)
  assert inspect.main([str(tmp_path), '--config.data.allow_resample=True',
                       '--config.data.num_points=32', '--config.data.test_fraction=0.4',
                       '--json']) == 0
  out = capsys.readouterr().out
  assert 'note:' not in out and json.loads(out.strip().splitlines()[-1])['test'] == 6
  for bad, says in (('--config.data.allow_resample=maybe', 'takes True or False'),
                    ('--config.data.test_fraction=2', 'must be a finite number in (0, 1)'),
                    ('--config.data.colour=red', 'not a data field this command takes')):
    assert inspect.main([str(tmp_path), bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and says in err and err.count('\n') == 1, err
