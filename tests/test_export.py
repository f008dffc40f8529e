"""Sets out of a workdir: every format read back (PLY by an independent reader, the h5
layout by this package's own reader), generators resampled from their checkpoint, and
every mistake refused in one line."""

import os

import numpy as np
import plyfile
import pytest

from dd3d_jax import data as data_lib
from dd3d_jax import export, pipeline, records
from dd3d_jax import tasks as tasks_lib
from dd3d_jax.data import modelnet
from dd3d_jax.workdir import Workdir
from tests.tiny import tiny_config


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  """A finished tiny run of DD3D and a random coreset, and its config."""
  workdir = str(tmp_path_factory.mktemp('run'))
  config = tiny_config('dd3d,random')
  pipeline.run(config, workdir)
  return workdir, config


@pytest.fixture(scope='module')
def parts(tmp_path_factory):
  """A finished tiny part-segmentation run of a random coreset."""
  workdir = str(tmp_path_factory.mktemp('parts'))
  config = tiny_config('random')
  config.task = 'segmentation'
  pipeline.run(config, workdir)
  return workdir


def saved(workdir, name='dd3d', d=0, key=None):
  return records.load_set(Workdir(workdir).set_file(name, d), key)


def test_ply_is_read_back_by_plyfile(finished, tmp_path):
  workdir, _ = finished
  [folder] = export.export(workdir, ['dd3d'], [0], 'ply', out=str(tmp_path))
  points, labels, _ = saved(workdir)
  files = sorted(os.listdir(folder))
  assert len(files) == len(labels)
  cloud = plyfile.PlyData.read(os.path.join(folder, files[0]))['vertex']
  with np.load(Workdir(workdir).set_file('dd3d', 0)) as f:
    names = [str(c) for c in f['class_names']]
  first = [i for i, label in enumerate(labels) if f'{names[label]}_0.ply' == files[0]][0]
  read = np.stack([cloud['x'], cloud['y'], cloud['z']], axis=-1)
  np.testing.assert_allclose(read, points[first], rtol=1e-5, atol=1e-6)


def test_part_labels_and_colours_in_ply_and_xyz(parts, tmp_path):
  [folder] = export.export(parts, ['random'], [0], 'ply', out=str(tmp_path / 'ply'))
  points, labels, part_ids = saved(parts, 'random', key='parts')
  vertex = plyfile.PlyData.read(os.path.join(folder, sorted(os.listdir(folder))[0]))['vertex']
  assert {'part', 'red', 'green', 'blue'} <= set(vertex.data.dtype.names)
  assert set(np.unique(vertex['part'])) <= set(np.unique(part_ids).tolist())
  [folder] = export.export(parts, ['random'], [0], 'xyz', out=str(tmp_path / 'xyz'))
  table = np.loadtxt(os.path.join(folder, sorted(os.listdir(folder))[0]))
  assert table.shape[1] == 4 and set(table[:, 3].astype(int)) <= set(part_ids.ravel().tolist())


def test_xyz_and_npz_hold_the_set(finished, tmp_path):
  workdir, _ = finished
  points, labels, _ = saved(workdir, 'random')
  [folder] = export.export(workdir, ['random'], [0], 'npz', out=str(tmp_path / 'npz'))
  again = records.load_set(os.path.join(folder, 'set.npz'))
  np.testing.assert_array_equal(again[0], points)
  np.testing.assert_array_equal(again[1], labels)
  [folder] = export.export(workdir, ['random'], [0], 'xyz', out=str(tmp_path / 'xyz'))
  clouds = [np.loadtxt(os.path.join(folder, f)) for f in sorted(os.listdir(folder))]
  assert len(clouds) == len(labels) and all(c.shape == points.shape[1:] for c in clouds)


def test_h5_is_read_by_the_package_as_a_dataset_with_the_real_test_split(finished, tmp_path):
  workdir, config = finished
  [folder] = export.export(workdir, ['dd3d'], [0], 'h5', out=str(tmp_path))
  dataset = modelnet.read_modelnet40_h5(folder)
  points, labels, _ = saved(workdir)
  np.testing.assert_array_equal(dataset.train.points, points)
  np.testing.assert_array_equal(dataset.train.labels, labels)
  real = data_lib.load(config.data)
  np.testing.assert_array_equal(dataset.test.points, real.test.points)
  assert list(dataset.class_names) == list(real.class_names)


def test_generator_resampled_at_its_own_resolution_is_the_saved_set(finished, tmp_path):
  workdir, config = finished
  dataset = data_lib.load(config.data)
  task = tasks_lib.make(config.task, dataset)
  points, labels, _ = saved(workdir)
  small, params = export.resample(Workdir(workdir), config, 'dd3d', 0, points.shape[1],
                                  dataset, task)
  np.testing.assert_array_equal(small.points, points)
  np.testing.assert_array_equal(small.labels, labels)
  [folder] = export.export(workdir, ['dd3d'], [0], 'npz', num_points=200, out=str(tmp_path))
  dense = records.load_set(os.path.join(folder, 'set.npz'))[0]
  assert dense.shape == (len(labels), 200, 3)
  assert np.linalg.norm(dense, axis=-1).max() <= 1 + 1e-5
  with np.load(os.path.join(folder, 'generator.npz')) as f:
    np.testing.assert_array_equal(f['embedding'], params['embedding'])


@pytest.mark.parametrize('argv, says', [
    (['--method', 'nope'], "--method 'nope' is not a method of"),
    (['--method', 'random', '--points', '128'], 'stores its set at one resolution'),
    (['--points', '0'], 'must be a positive number of points'),
    (['--distill', '7'], 'does not exist; pick --distill from 0'),
    (['--format', 'obj'], "argument --format: invalid choice: 'obj'"),
    (['--metric'], "this job scaled each cloud into the unit sphere by its own factor "
                   "(data.scale='unit_sphere'), so its sets have no metric scale"),
])
def test_mistakes_are_one_line(finished, argv, says, capsys, tmp_path):
  workdir, _ = finished
  code = export.main([workdir, '--out', str(tmp_path), *argv])
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1 and says in err, err
