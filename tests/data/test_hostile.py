"""Hostile data files (issue 38): each ends in one line naming the file and the fix.

Through `data.read` / `data.load` (what `main` calls before it writes anything) and,
for a few, through `python -m dd3d_jax.main` and `inspect` end to end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest

from dd3d_jax import config
from dd3d_jax import data as data_lib
from dd3d_jax.data import inspect, npz, pointfiles
from dd3d_jax.errors import ConfigError, DataError
from tests.data.test_readers import (P, clouds, write_h5, write_modelnet, write_mvpnet,
                                     write_shapenetpart_txt)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def data_config(**fields):
  cfg = config.base_config().data
  cfg.update(**{'num_points': P, **fields})
  return cfg


def read(path, **fields):
  """data.read with every warning an error (a hostile file must not warn either)."""
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    return data_lib.read(data_config(path=path, **{'format': 'auto', **fields}))


def save_npz(file, train_points, train_labels=(0, 1), **extra):
  arrays = dict(train_points=train_points, train_labels=np.array(train_labels),
                test_points=clouds(1, 2), test_labels=np.array([1, 0]),
                class_names=np.array(['a', 'b']))
  arrays.update(extra)
  np.savez(file, **arrays)
  return str(file)


def test_h5_key_that_is_a_group(tmp_path, capsys):
  folder, _ = write_modelnet(str(tmp_path))
  file = os.path.join(folder, 'ply_data_train1.h5')
  os.remove(file)
  with h5py.File(file, 'w') as f:
    f.create_group('data')
    f['label'] = np.zeros(3, int)
  message = re.escape(file) + r": 'data' is a group, not an array \(dataset\); re-download"
  with pytest.raises(DataError, match=message):
    read(folder)
  assert inspect.main([folder]) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and re.match('error: ' + message, err)


def test_text_that_is_not_utf8(tmp_path, capsys):
  folder, _ = write_modelnet(str(tmp_path))
  names = os.path.join(folder, 'shape_names.txt')
  with open(names, 'wb') as f:
    f.write('airplane\nbathtub\nb\u00e9d\n'.encode('latin-1'))
  message = re.escape(names) + r': not UTF-8 text \(byte 0xe9 at offset 18\); re-download'
  with pytest.raises(DataError, match=message):
    read(folder)
  assert inspect.main([folder]) == 2
  assert re.match('error: ' + message, capsys.readouterr().err)
  with open(names, 'w', encoding='utf-8') as f:  # the same names in UTF-8 are fine
    f.write('airplane\nbathtub\nb\u00e9d\n')
  assert read(folder).class_names == ('airplane', 'bathtub', 'b\u00e9d')


def test_complex_points_are_refused_not_truncated(tmp_path):
  file = save_npz(tmp_path / 'c.npz', clouds(0, 2) + 1j)
  with pytest.raises(DataError, match=re.escape(file) + ': train_points has dtype complex64, '
                                     'expected real numbers'):
    read(file)
  folder, _ = write_modelnet(str(tmp_path))
  write_h5(os.path.join(folder, 'ply_data_train1.h5'), data=clouds(1, 3).astype(np.complex64),
           label=np.array([2, 2, 0]))
  with pytest.raises(DataError, match=r'ply_data_train1.h5: data has shape \(3, 64, 3\) and dtype '
                                      r'complex64, expected \(n, P, 3\) real numbers'):
    read(folder)


def test_coordinates_too_large_for_the_normalisation(tmp_path):
  # 3e37 is a finite float32, but the float32 unit-sphere normalisation overflows on it.
  big = clouds(0, 2)
  big[1] *= 3e37
  file = save_npz(tmp_path / 'big.npz', big)
  with pytest.raises(DataError, match=re.escape(file) + r': train_points: cloud 1 has a '
                                     r'coordinate of [\d.]+e\+3[78], beyond \+-1e\+18, .*; '
                                     r'rescale the clouds \(divide every coordinate by one '
                                     r'constant\)\.'):
    data_lib.load(data_config(format='npz', path=file))
  # In an h5 file, float64 beyond float32's range is named, not turned into inf.
  folder, _ = write_modelnet(str(tmp_path))
  huge = clouds(1, 3).astype(np.float64)
  huge[2, 0, 0] = 1e300
  write_h5(os.path.join(folder, 'ply_data_train1.h5'), data=huge, label=np.array([2, 2, 0]))
  with pytest.raises(DataError, match=r'ply_data_train1.h5: cloud 2 has a coordinate of 1e\+300'):
    read(folder)
  # Large coordinates within range load into the unit sphere.
  ok = data_lib.load(data_config(format='npz', path=save_npz(tmp_path / 'ok.npz',
                                                              clouds(0, 2) * 1e15)))
  radius = np.linalg.norm(ok.train.points, axis=-1).max(axis=1)
  np.testing.assert_allclose(radius, 1, atol=1e-3)


def test_clouds_that_would_normalise_to_a_point(tmp_path):
  tiny = clouds(0, 2)
  tiny[0] *= 1e-9
  file = save_npz(tmp_path / 'tiny.npz', tiny)
  with pytest.raises(DataError, match=re.escape(file) + r': train_points: cloud 0 spans only '
                                     r'.*which the unit-sphere normalisation shrinks to a point; '
                                     r'drop that cloud, or scale the clouds up'):
    read(file)
  far = clouds(0, 2).astype(np.float64)
  far[1] += 1e12  # float32 cannot tell its points apart so far from the origin
  with pytest.raises(DataError, match=r'cloud 1 spans only 0 '):
    read(save_npz(tmp_path / 'far.npz', far))
  with pytest.raises(DataError, match=r'train_points: clouds of 1 point have no shape'):
    read(save_npz(tmp_path / 'one.npz', clouds(0, 2, p=1)), num_points=1)
  # Subsampling can collapse a cloud (here to 1 point): refused after preparation.
  folder, _ = write_modelnet(str(tmp_path))
  with pytest.raises(DataError, match=r'train cloud 0 collapses to a point when 1 of its points '
                                      r'are kept .*; raise data.num_points'):
    data_lib.load(data_config(format='auto', path=folder, num_points=1))


def test_non_finite_coordinates(tmp_path):
  nan = clouds(0, 2)
  nan[1, 3, 2] = np.inf
  file = save_npz(tmp_path / 'nan.npz', nan)
  with pytest.raises(DataError, match=re.escape(file) + r': train_points: cloud 1 has NaN/inf '
                                     r'coordinates \(1 such clouds\); drop or repair'):
    read(file)


def test_empty_text_clouds_are_refused_without_a_warning(tmp_path):
  folder, _ = write_shapenetpart_txt(str(tmp_path))
  file = os.path.join(folder, '02691156', 'shape0.txt')
  open(file, 'w').close()
  with pytest.raises(DataError, match=re.escape(file) + r': empty file \(no rows of numbers\); '
                                     r're-download the dataset\.'):
    read(folder)
  mvp, _, _ = write_mvpnet(str(tmp_path))
  with open(os.path.join(mvp, 'shoe', 'd.txt'), 'w') as f:
    f.write('\n  \n')
  with pytest.raises(DataError, match=r'shoe/d.txt: empty file \(no rows of numbers\); re-export'):
    read(mvp)


def test_npz_of_random_bytes(tmp_path, capsys):
  file = tmp_path / 'random.npz'
  file.write_bytes(np.random.default_rng(0).bytes(1000))
  message = re.escape(str(file)) + r': not a valid \.npz file \(not a zip archive'
  with pytest.raises(DataError, match=message) as caught:
    read(str(file))
  message_text = str(caught.value)
  assert 'allow_pickle' not in message_text and 'np.asarray(x, np.float32)' in message_text
  assert inspect.main([str(file)]) == 2
  assert re.match('error: ' + message, capsys.readouterr().err)
  mvp, _, _ = write_mvpnet(str(tmp_path))  # the same for an .npy point file
  (tmp_path / 'mvpnet' / 'cup' / 'c.npy').write_bytes(np.random.default_rng(1).bytes(500))
  with pytest.raises(DataError, match=r'cup/c.npy: not a .npy file \(no NumPy header'):
    read(mvp)


def test_object_arrays_advice_is_plain_arrays(tmp_path):
  file = str(tmp_path / 'o.npz')
  np.savez(file, train_points=np.array([clouds(0, 1)[0], None], dtype=object))
  with pytest.raises(DataError) as caught:
    npz.read_npz(file)
  message = str(caught.value)
  assert message.startswith(f'{file}: holds object arrays (Python pickles, which are never '
                            'loaded); re-save it with plain arrays: np.savez(path, '
                            'points=np.asarray(x, np.float32), labels=np.asarray(y, np.int32), '
                            'class_names=np.asarray(names, str))')
  assert 'allow_pickle' not in message
  np.save(tmp_path / 'o.npy', np.array([None], dtype=object))
  with pytest.raises(DataError, match='o.npy: holds an object array .* save the cloud with '
                                      r'np.save\(file, np.asarray\(points, np.float32\)\)'):
    pointfiles.read_cloud(str(tmp_path / 'o.npy'))


def test_ids_are_checked_before_the_int32_cast(tmp_path):
  # 2**32 + 1 would wrap to label 1; 2**63 + 1 and 1e20 would wrap too.
  for label in (np.uint64(2**32 + 1), np.uint64(2**63 + 1), 1e20):
    folder, _ = write_modelnet(str(tmp_path / str(label)))
    write_h5(os.path.join(folder, 'ply_data_train1.h5'), data=clouds(1, 3),
             label=np.array([2, 2, label]))
    with pytest.raises(DataError, match=r'ply_data_train1.h5: label \d+ is outside the 3 classes'):
      read(folder)
  file = save_npz(tmp_path / 'wrap.npz', clouds(0, 2), train_labels=[0, 2**32 + 1])
  with pytest.raises(DataError, match=r'train_labels: label 4294967297 is outside the 2 classes '
                                      r'of class_names'):
    read(file)
  parts = np.zeros((2, P), np.int64)
  parts[1, 5] = -1
  file = save_npz(tmp_path / 'parts.npz', clouds(0, 2), train_parts=parts,
                  test_parts=np.zeros((2, P), np.int64))
  with pytest.raises(DataError, match=r'train_parts: part id -1 is outside 0..2147483646'):
    read(file)


def test_missing_marker_file_is_named(tmp_path, capsys):
  folder, _ = write_modelnet(str(tmp_path))
  os.remove(os.path.join(folder, 'shape_names.txt'))
  message = (re.escape(folder) + ': an incomplete dataset: ModelNet40 h5 without '
             r'shape_names.txt, or ShapeNet-part h5 without all_object_categories.txt; restore '
             r'the missing file')
  with pytest.raises(DataError, match=message):
    read(folder)
  assert inspect.main([folder]) == 2
  assert re.match('error: ' + message, capsys.readouterr().err)
  with pytest.raises(DataError, match=re.escape(str(tmp_path)) + r': no known dataset layout '
                                      r'\(npz needs train.npz; ModelNet40 h5 needs shape_names.txt '
                                      r'and \*_files.txt; '):
    read(str(tmp_path))
  with pytest.raises(DataError, match=r'train_files.txt: a file, and only .npz data is a single '
                                      r'file'):
    read(os.path.join(folder, 'train_files.txt'))


def test_path_with_the_procedural_shapes_is_refused():
  with pytest.raises(ConfigError, match=r"data.path is '/data/x', but data.format='shapes' "
                                        r"generates its clouds and reads no file; clear data.path"):
    data_lib.read(data_config(format='shapes', path='/data/x'))


def test_variant_of_another_format_is_refused(tmp_path):
  folder, _ = write_modelnet(str(tmp_path))
  with pytest.raises(ConfigError, match=r"data.variant 'obj_only' only applies to ScanObjectNN, "
                                        r"and .* is modelnet40_h5; set data.variant=''"):
    read(folder, variant='obj_only')


def test_main_refuses_a_hostile_file_in_one_line_before_writing(tmp_path):
  big = clouds(0, 2)
  big[0] *= 3e37
  file = save_npz(tmp_path / 'big.npz', big)
  workdir = tmp_path / 'w'
  out = subprocess.run([sys.executable, '-m', 'dd3d_jax.main', '--config=configs/shapes.py',
                        '--config.data.format=auto', f'--config.data.path={file}',
                        f'--workdir={workdir}'], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 2 and out.stderr.count('\n') == 1, out.stderr
  assert out.stderr.startswith(f'error: {file}: train_points: cloud 0 has a coordinate of ')
  assert 'learning rate' not in out.stderr and not workdir.exists()
