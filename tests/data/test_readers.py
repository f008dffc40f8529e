"""Readers of the published layouts: round trips on small fixtures, detection, errors."""

import json
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

from dd3d_jax import config
from dd3d_jax import data as data_lib
from dd3d_jax.data import modelnet, mvpnet, scanobjectnn, shapenetpart
from dd3d_jax.errors import ConfigError, DataError

P = 64
MODELNET_CLASSES = ('airplane', 'bathtub', 'bed')
# Real ModelNet10 for an optional check: the folder docs/data.md makes in the checkout,
# or the one DD3D_MODELNET10 names.
REAL_MODELNET10 = os.environ.get('DD3D_MODELNET10') or os.path.join(os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'data', 'modelnet10_hdf5_1024')


def clouds(seed, n, p=P):
  return np.random.default_rng(seed).normal(size=(n, p, 3)).astype(np.float32)


def write_h5(file, **arrays):
  os.makedirs(os.path.dirname(file), exist_ok=True)
  with h5py.File(file, 'w') as f:
    for key, value in arrays.items():
      f[key] = value


def sorted_rows(a):
  """Rows of a [P, C] array in lexicographic order (compare clouds as point sets)."""
  return a[np.lexsort(a.T[::-1])]


# --- ModelNet40 -----------------------------------------------------------------------

def write_modelnet(root, entry_prefix='data/modelnet40_ply_hdf5_2048/'):
  """3 classes; train = 2 files (labels (n, 1) uint8 and (n,) int64), test = 1 file."""
  folder = os.path.join(root, 'modelnet40_ply_hdf5_2048')
  files = {'ply_data_train0.h5': (clouds(0, 5), np.array([[0], [1], [2], [0], [1]], np.uint8)),
           'ply_data_train1.h5': (clouds(1, 3), np.array([2, 2, 0])),
           'ply_data_test0.h5': (clouds(2, 4), np.array([[1], [0], [2], [2]], np.uint8))}
  for name, (points, labels) in files.items():
    write_h5(os.path.join(folder, name), data=points, label=labels,
             normal=np.zeros_like(points), faceId=np.zeros(points.shape[:2], np.int32))
  with open(os.path.join(folder, 'shape_names.txt'), 'w') as f:
    f.write('\n'.join(MODELNET_CLASSES) + '\n')
  for split in ('train', 'test'):
    with open(os.path.join(folder, f'{split}_files.txt'), 'w') as f:
      f.writelines(f'{entry_prefix}{n}\n' for n in files if split in n)
  return folder, files


@pytest.mark.parametrize('prefix', ['data/modelnet40_ply_hdf5_2048/', '',
                                    'modelnet40_ply_hdf5_2048/'])
def test_modelnet_round_trip(tmp_path, prefix):
  folder, files = write_modelnet(str(tmp_path), prefix)
  ds = modelnet.read_modelnet40_h5(folder)
  assert ds.name == 'modelnet3' and ds.class_names == MODELNET_CLASSES and ds.num_parts == 0
  train = [files['ply_data_train0.h5'], files['ply_data_train1.h5']]
  np.testing.assert_array_equal(ds.train.points, np.concatenate([p for p, _ in train]))
  np.testing.assert_array_equal(ds.train.labels, [0, 1, 2, 0, 1, 2, 2, 0])
  np.testing.assert_array_equal(ds.test.points, files['ply_data_test0.h5'][0])
  np.testing.assert_array_equal(ds.test.labels, [1, 0, 2, 2])
  assert ds.train.points.dtype == np.float32 and ds.train.labels.dtype == np.int32
  assert ds.train.parts is None


def test_modelnet_errors(tmp_path):
  folder, _ = write_modelnet(str(tmp_path))
  file = os.path.join(folder, 'ply_data_train1.h5')
  read = modelnet.read_modelnet40_h5
  with pytest.raises(DataError, match='nope: no such folder'):
    read(os.path.join(folder, 'nope'))
  with pytest.raises(DataError, match=r"clouds have 64 points, fewer than the 128 requested; "
                                      r"lower data.num_points to 64"):
    read(folder, min_points=128)

  def damaged(name, **arrays):
    write_h5(os.path.join(folder, name), **arrays)
    return re.escape(os.path.join(folder, name))
  cases = [  # (h5 arrays written to ply_data_train1.h5, expected message)
      (dict(data=clouds(1, 3)), r"missing key 'label' \(the file has \['data'\]\)"),
      (dict(data=clouds(1, 3)[..., :2], label=np.zeros(3, int)),
       r'data has shape \(3, 64, 2\) .* expected \(n, P, 3\)'),
      (dict(data=clouds(1, 3), label=np.zeros(4, int)), r'label has shape \(4,\) for 3 clouds'),
      (dict(data=clouds(1, 3), label=np.array([0.5, 1, 2])), 'labels are not whole numbers'),
      (dict(data=clouds(1, 3), label=np.array([0, 7, 1])),
       'label 7 is outside the 3 classes of the class list'),
      (dict(data=clouds(1, 3, 32), label=np.zeros(3, int)),
       'clouds have 32 points but the earlier files of train_files.txt have 64'),
  ]
  nan = clouds(1, 3)
  nan[2, 5, 1] = np.nan
  cases.append((dict(data=nan, label=np.zeros(3, int)), r'cloud 2 has NaN/inf coordinates'))
  for arrays, message in cases:
    with pytest.raises(DataError, match=damaged('ply_data_train1.h5', **arrays) + ': ' + message):
      read(folder)
  # An empty class (no 'bed' = 2 in training).
  damaged('ply_data_train1.h5', data=clouds(1, 3), label=np.zeros(3, int))
  write_h5(os.path.join(folder, 'ply_data_train0.h5'), data=clouds(0, 2), label=np.array([0, 1]))
  with pytest.raises(DataError, match=r"train_files.txt: class 'bed' has no training clouds"):
    read(folder)
  # Truncated h5 (h5py raises OSError).
  with open(file, 'rb') as f:
    head = f.read(1000)
  with open(file, 'wb') as f:
    f.write(head)
  with pytest.raises(DataError, match=re.escape(file) + ': unreadable or truncated HDF5 file'):
    read(folder)
  os.remove(file)
  with pytest.raises(DataError, match=r"train_files.txt: lists 'data/modelnet40_ply_hdf5_2048/"
                                      r"ply_data_train1.h5', which is not in"):
    read(folder)
  for name in ('train_files.txt', 'shape_names.txt'):
    os.remove(os.path.join(folder, name))
    with pytest.raises(DataError, match=f'{name}: no such file'):
      read(folder)


@pytest.mark.skipif(not os.path.isdir(REAL_MODELNET10), reason='no real ModelNet10 copy')
def test_real_modelnet10():
  ds = modelnet.read_modelnet40_h5(REAL_MODELNET10, min_points=1024)
  assert ds.name == 'modelnet10' and len(ds.class_names) == 10
  assert (len(ds.train), len(ds.test)) == (3991, 908)
  assert ds.train.points.shape[1:] == ds.test.points.shape[1:] == (1024, 3)
  out = subprocess.run([sys.executable, '-m', 'dd3d_jax.data.inspect', REAL_MODELNET10, '--json'],
                       capture_output=True, text=True, timeout=60)
  assert out.returncode == 0, out.stderr
  assert json.loads(out.stdout.strip().splitlines()[-1]) == {
      'format': 'modelnet40_h5', 'name': 'modelnet10', 'classes': list(ds.class_names),
      'train': 3991, 'test': 908, 'points': 1024,
      'sizes': {s: {'min': 1024, 'median': 1024, 'max': 1024} for s in ('train', 'test')}}


# --- ScanObjectNN ---------------------------------------------------------------------

def write_scanobjectnn(root):
  """Every variant; train has each of the 15 classes twice, test 4 clouds."""
  folder, written = os.path.join(root, 'h5_files'), {}
  for i, (variant, (sub, suffix)) in enumerate(scanobjectnn.VARIANTS.items()):
    for split, prefix, n in (('train', 'training', 30), ('test', 'test', 4)):
      points, labels = clouds(10 * i + n, n), np.arange(n) % 15
      write_h5(os.path.join(folder, sub, f'{prefix}_objectdataset{suffix}.h5'), data=points,
               label=labels, mask=np.ones(points.shape[:2], np.int32))
      written[variant, split] = (points, labels)
  return folder, written


def test_scanobjectnn_variants(tmp_path):
  folder, written = write_scanobjectnn(str(tmp_path))
  for variant in scanobjectnn.VARIANTS:
    ds = scanobjectnn.read_scanobjectnn_h5(folder, variant)
    assert ds.class_names == scanobjectnn.CLASS_NAMES and ds.name == f'scanobjectnn_{variant}'
    for split in ('train', 'test'):
      np.testing.assert_array_equal(ds.splits[split].points, written[variant, split][0])
      np.testing.assert_array_equal(ds.splits[split].labels, written[variant, split][1])
  direct = scanobjectnn.read_scanobjectnn_h5(os.path.join(folder, 'main_split_nobg'), 'obj_only')
  np.testing.assert_array_equal(direct.test.points, written['obj_only', 'test'][0])
  with pytest.raises(ConfigError, match=r"data.variant 'pb' is unknown for ScanObjectNN; use "
                                        r"one of \['obj_bg', 'obj_only', 'pb_t50_rs'\]"):
    scanobjectnn.read_scanobjectnn_h5(folder, 'pb')
  os.remove(os.path.join(folder, 'main_split', 'test_objectdataset.h5'))
  with pytest.raises(DataError, match='main_split/test_objectdataset.h5: no such file'):
    scanobjectnn.read_scanobjectnn_h5(folder, 'obj_bg')


# --- ShapeNet-part --------------------------------------------------------------------

SHAPENET_CLASSES = (('Airplane', '02691156'), ('Bag', '02773838'), ('Cap', '02954340'))


def part_ids(seed, labels, p=P):
  rng = np.random.default_rng(seed)
  offsets, counts = (np.array(t)[labels][:, None] for t in (shapenetpart.PART_OFFSETS,
                                                            shapenetpart.PART_COUNTS))
  return (offsets + rng.integers(0, 100, (len(labels), p)) % counts).astype(np.uint8)


def write_shapenetpart_h5(root):
  """3 classes; 'Cap' (2) only in the val file, so train needs val merged in."""
  folder, written = os.path.join(root, 'hdf5_data'), {}
  for i, (name, labels) in enumerate((('train10', [0, 1]), ('train2', [1, 0, 0]),
                                      ('val0', [2]), ('test0', [2, 0]))):
    labels = np.array(labels, np.uint8)[:, None]
    written[name] = (clouds(20 + i, len(labels)), labels, part_ids(i, labels[:, 0]))
    write_h5(os.path.join(folder, f'ply_data_{name}.h5'), data=written[name][0],
             label=labels, pid=written[name][2])
  with open(os.path.join(folder, 'all_object_categories.txt'), 'w') as f:
    f.writelines(f'{n}\t{s}\n' for n, s in SHAPENET_CLASSES)
  return folder, written


def test_shapenetpart_h5(tmp_path):
  folder, written = write_shapenetpart_h5(str(tmp_path))
  ds = shapenetpart.read_shapenetpart_h5(folder)
  assert ds.class_names == ('Airplane', 'Bag', 'Cap') and ds.num_parts == 50
  order = ('train2', 'train10', 'val0')  # numeric order, then val
  for split, names in (('train', order), ('test', ('test0',))):
    for j, array in enumerate(('points', 'labels', 'parts')):
      expected = np.concatenate([written[n][j] for n in names])
      np.testing.assert_array_equal(getattr(ds.splits[split], array), expected.reshape(-1)
                                    if array == 'labels' else expected)
  assert set(ds.splits) == {'train', 'test'} and ds.train.parts.dtype == np.int32
  bad = written['val0'][2].copy()
  bad[0, 3] = 50
  write_h5(os.path.join(folder, 'ply_data_val0.h5'), data=written['val0'][0],
           label=written['val0'][1], pid=bad)
  with pytest.raises(DataError, match='ply_data_val0.h5: part id 50 is outside the 50 part'):
    shapenetpart.read_shapenetpart_h5(folder)
  write_h5(os.path.join(folder, 'ply_data_val0.h5'), data=written['val0'][0],
           label=written['val0'][1])
  with pytest.raises(DataError, match=r"ply_data_val0.h5: missing key 'pid'"):
    shapenetpart.read_shapenetpart_h5(folder)


def write_shapenetpart_txt(root, sizes=(70, 80, 64, 90, 66)):
  """2 classes; clouds of varying sizes; train list + val list + test list."""
  folder, written = os.path.join(root, 'shapenetcore_partanno_segmentation_benchmark_v0_normal'), {}
  os.makedirs(os.path.join(folder, 'train_test_split'))
  classes = SHAPENET_CLASSES[:2]
  with open(os.path.join(folder, 'synsetoffset2category.txt'), 'w') as f:
    f.writelines(f'{n}\t{s}\n' for n, s in classes)
  lists = {'train': [0, 1], 'val': [1], 'test': [0, 1]}
  i = 0
  for stem, labels in lists.items():
    entries = []
    for label in labels:
      synset, shape_id = classes[label][1], f'shape{i}'
      rng = np.random.default_rng(i)
      rows = np.concatenate([rng.normal(size=(sizes[i], 6)).round(4),
                             part_ids(i, np.array([label]), sizes[i]).T], axis=1)
      os.makedirs(os.path.join(folder, synset), exist_ok=True)
      np.savetxt(os.path.join(folder, synset, f'{shape_id}.txt'), rows, fmt='%.4f')
      written[shape_id] = (rows.astype(np.float32), label)
      entries.append(f'shape_data/{synset}/{shape_id}')
      i += 1
    list_file = os.path.join(folder, 'train_test_split', f'shuffled_{stem}_file_list.json')
    with open(list_file, 'w') as f:
      json.dump(entries, f)
  return folder, written


def test_shapenetpart_txt(tmp_path):
  folder, written = write_shapenetpart_txt(str(tmp_path))
  ds = shapenetpart.read_shapenetpart_txt(folder, P, seed=3)
  assert ds.class_names == ('Airplane', 'Bag') and ds.num_parts == 50
  for split, ids in (('train', (0, 1, 2)), ('test', (3, 4))):
    s = ds.splits[split]
    assert s.points.shape == (len(ids), P, 3) and s.parts.shape == (len(ids), P)
    np.testing.assert_array_equal(s.labels, [written[f'shape{i}'][1] for i in ids])
    for j, i in enumerate(ids):  # a subset of the file's rows, parts kept with their points
      rows = written[f'shape{i}'][0][:, [0, 1, 2, 6]]
      picked = np.concatenate([s.points[j], s.parts[j][:, None]], axis=1)
      assert len(np.unique(picked, axis=0)) == P
      assert (picked[:, None] == rows[None]).all(-1).any(-1).all()
  again = shapenetpart.read_shapenetpart_txt(folder, P, seed=3)
  np.testing.assert_array_equal(again.train.points, ds.train.points)
  other = shapenetpart.read_shapenetpart_txt(folder, P, seed=4)
  assert not np.array_equal(other.train.points, ds.train.points)


def test_shapenetpart_txt_small_cloud(tmp_path):
  folder, written = write_shapenetpart_txt(str(tmp_path), sizes=(70, 50, 64, 90, 66))
  file = re.escape(os.path.join(folder, SHAPENET_CLASSES[1][1], 'shape1.txt'))
  with pytest.raises(DataError, match=file + r': the cloud has 50 points, fewer than the 64 '
                                      r'requested; lower data.num_points to 50 or less \(or add '
                                      r'--config.data.allow_resample=True to pad short clouds '
                                      r'with their own points \(main and inspect both take '
                                      r'it\)\).'):
    shapenetpart.read_shapenetpart_txt(folder, P)
  ds = shapenetpart.read_shapenetpart_txt(folder, P, allow_resample=True)
  assert list(ds.train.sizes) == [70, 50, 64] and list(ds.test.sizes) == [90, 66]  # as read
  rows = written['shape1'][0][:, :3]
  np.testing.assert_array_equal(sorted_rows(np.unique(ds.train.points[1], axis=0)),
                                sorted_rows(rows))
  with open(os.path.join(folder, 'train_test_split', 'shuffled_val_file_list.json'), 'w') as f:
    json.dump(['shape_data/01234567/x'], f)
  with pytest.raises(DataError, match=r"shuffled_val_file_list.json: lists 'shape_data/01234567/"
                                      r"x', whose synset is not in"):
    shapenetpart.read_shapenetpart_txt(folder, P, allow_resample=True)


def test_part_proportions():
  labels = np.array([0, 1, 0])
  parts = np.array([[0, 0, 1, 3], [4, 5, 5, 5], [2, 2, 2, 2]])
  props = shapenetpart.part_proportions(parts, labels, 2)
  np.testing.assert_allclose(props, [[2 / 8, 1 / 8, 4 / 8, 1 / 8], [1 / 4, 3 / 4, 0, 0]])
  with pytest.raises(DataError, match="cloud 1 of class 1 has part id 6, outside its class's"):
    shapenetpart.part_proportions(np.array([[0, 0], [4, 6]]), np.array([0, 1]), 2)


def test_official_proportions_cover_every_part_and_sum_to_one():
  table = shapenetpart.official_proportions()
  assert table.shape == (16, 6)
  assert [int((row > 0).sum()) for row in table] == list(shapenetpart.PART_COUNTS)
  np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-3)


# --- MVPNet ---------------------------------------------------------------------------

def write_ply(file, points, binary, order='<'):
  """PLY with an element before the vertices (binary) or after them (ascii)."""
  n = len(points)
  kind = {'<': 'binary_little_endian', '>': 'binary_big_endian'}[order] if binary else 'ascii'
  vertex = [f'element vertex {n}', 'property double x', 'property double y',
            'property double z', 'property uchar red']
  camera = ['element camera 1', 'property float fx', 'property int id']
  face = ['element face 0', 'property list uchar int vertex_indices']
  header = ['ply', f'format {kind} 1.0', 'comment fixture'] + (
      camera + vertex if binary else vertex + face) + ['end_header']
  with open(file, 'wb') as f:
    f.write(('\n'.join(header) + '\n').encode())
    if binary:
      f.write(np.array([(1.5, 7)], [('fx', order + 'f4'), ('id', order + 'i4')]).tobytes())
      rows = np.zeros(n, [(a, order + 'f8') for a in 'xyz'] + [('red', 'u1')])
      for j, a in enumerate('xyz'):
        rows[a] = points[:, j]
      f.write(rows.tobytes())
    else:
      f.write(''.join(f'{x!r} {y!r} {z!r} 200\n' for x, y, z in points.tolist()).encode())


def write_mvpnet(root, num=P + 6):
  """2 categories; one cloud per file type; train 4 clouds, test 2."""
  folder = os.path.join(root, 'mvpnet')
  written = {}
  files = {'train': ['cup/a.ply', 'shoe/b.ply', 'cup/c.npy', 'shoe/d.txt'],
           'test': ['shoe/e.xyz', 'cup/f.ply']}
  for i, entry in enumerate(files['train'] + files['test']):
    points = np.random.default_rng(i).normal(size=(num, 3)).astype(np.float32)
    file = os.path.join(folder, entry)
    os.makedirs(os.path.dirname(file), exist_ok=True)
    if entry.endswith('.ply'):
      write_ply(file, points.astype(np.float64), binary=i != 1, order='>' if i == 5 else '<')
    elif entry.endswith('.npy'):
      np.save(file, np.concatenate([points, np.ones((num, 2), np.float32)], axis=1))
    else:
      np.savetxt(file, np.concatenate([points, np.zeros((num, 3))], axis=1), fmt='%.17g')
    written[entry] = points
  for split, entries in files.items():
    with open(os.path.join(folder, f'{split}_list.txt'), 'w') as f:
      f.write('\n'.join(entries) + '\n')
  return folder, files, written


def test_mvpnet_round_trip(tmp_path):
  folder, files, written = write_mvpnet(str(tmp_path))
  ds = mvpnet.read_mvpnet(folder, P, seed=1)
  assert ds.class_names == ('cup', 'shoe') and ds.name == 'mvpnet2'
  for split, entries in files.items():
    s = ds.splits[split]
    assert s.points.shape == (len(entries), P, 3) and s.points.dtype == np.float32
    np.testing.assert_array_equal(s.labels, [int(e.startswith('shoe')) for e in entries])
    for j, entry in enumerate(entries):  # points of the file, centred on its mean
      centred = written[entry] - written[entry].mean(0, dtype=np.float64)
      assert (np.abs(s.points[j][:, None] - centred[None]).max(-1) < 1e-6).any(-1).all(), entry
  full = mvpnet.read_mvpnet(folder, P + 6)
  a = written['cup/a.ply']
  np.testing.assert_allclose(sorted_rows(full.train.points[0]),
                             sorted_rows(a - a.mean(0, dtype=np.float64)), atol=1e-6)
  with open(os.path.join(folder, 'classes.txt'), 'w') as f:
    f.write('shoe\ncup\n')
  np.testing.assert_array_equal(mvpnet.read_mvpnet(folder, P).test.labels, [0, 1])


def test_mvpnet_errors(tmp_path):
  folder, _, written = write_mvpnet(str(tmp_path))
  with pytest.raises(DataError, match=r'cup/a.ply: the cloud has 70 points, fewer than the 80 '
                                      r'requested; lower data.num_points to 70'):
    mvpnet.read_mvpnet(folder, 80)
  file = os.path.join(folder, 'cup', 'a.ply')
  with open(file, 'rb') as f:
    content = f.read()
  with open(file, 'wb') as f:
    f.write(content[:-100])
  with pytest.raises(DataError, match=r'cup/a.ply: truncated PLY file'):
    mvpnet.read_mvpnet(folder, P)
  bad = written['cup/a.ply'].astype(np.float64)
  bad[3, 0] = np.inf
  write_ply(file, bad, binary=False)
  with pytest.raises(DataError, match=r'cup/a.ply: cloud 0 has NaN/inf coordinates'):
    mvpnet.read_mvpnet(folder, P)
  write_ply(file, written['cup/a.ply'].astype(np.float64), binary=False)
  with open(os.path.join(folder, 'train_list.txt'), 'a') as f:
    f.write('hat/x.ply\n')
  with pytest.raises(DataError, match=r"train_list.txt: lists 'hat/x.ply', whose category 'hat' "
                                      r"is not a class \(2 classes\)"):
    mvpnet.read_mvpnet(folder, P)
  with open(os.path.join(folder, 'train_list.txt'), 'w') as f:
    f.write('cup/x.obj\n')
  with pytest.raises(DataError, match=r"cup/x.obj: unknown point-file extension"):
    mvpnet.read_mvpnet(folder, P)


# --- Registry: detect_format and read() -----------------------------------------------

def test_detect_format(tmp_path):
  root = str(tmp_path)
  scan, _ = write_scanobjectnn(root)
  layouts = {write_modelnet(root)[0]: 'modelnet40_h5', scan: 'scanobjectnn_h5',
             os.path.join(scan, 'main_split'): 'scanobjectnn_h5',
             write_shapenetpart_h5(root)[0]: 'shapenetpart_h5',
             write_shapenetpart_txt(root)[0]: 'shapenetpart_txt',
             write_mvpnet(root)[0]: 'mvpnet'}
  npz_dir = os.path.join(root, 'npz')
  os.makedirs(npz_dir)
  for split in ('train', 'test'):
    np.savez(os.path.join(npz_dir, f'{split}.npz'), points=clouds(5, 2), labels=[0, 1],
             class_names=['a', 'b'])
  layouts.update({npz_dir: 'npz', os.path.join(npz_dir, 'train.npz'): 'npz'})
  for path, fmt in layouts.items():
    assert data_lib.detect_format(path) == fmt, path
  with pytest.raises(DataError, match=re.escape(root) + ': no known dataset layout'):
    data_lib.detect_format(root)


def data_config(**fields):
  cfg = config.base_config().data
  cfg.update(fields)
  return cfg


def test_read_registry(tmp_path):
  assert {'modelnet40_h5', 'scanobjectnn_h5', 'shapenetpart_h5', 'shapenetpart_txt', 'mvpnet',
          'npz', 'shapes'} <= set(data_lib.READERS)
  folder, _ = write_modelnet(str(tmp_path))
  ds = data_lib.read(data_config(format='auto', path=folder, num_points=P))
  assert ds.name == 'modelnet3' and len(ds.train) == 8
  scan, _ = write_scanobjectnn(str(tmp_path))
  assert data_lib.read(data_config(format='scanobjectnn_h5', path=scan,
                                   num_points=P)).name == 'scanobjectnn_obj_bg'
  txt, _ = write_shapenetpart_txt(str(tmp_path), sizes=(70, 50, 64, 90, 66))
  ds = data_lib.read(data_config(format='auto', path=txt, num_points=P, allow_resample=True))
  assert ds.train.points.shape == (3, P, 3)
  mvp = write_mvpnet(str(tmp_path))[0]
  with pytest.raises(ConfigError, match='MVPNet is never rotated'):
    data_lib.read(data_config(format='auto', path=mvp, rotated=True))
  with pytest.raises(DataError, match='/no/such: no such file or folder'):
    data_lib.read(data_config(format='auto', path='/no/such'))
