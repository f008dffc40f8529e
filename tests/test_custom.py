"""`configs/custom.py` end to end, as docs/data.md#your-own-data documents it: raw files
(a plain h5 pair; a folder of `.xyz` clouds of different sizes in metres, without a
split) to a table and a `.ply` export, by the commands alone (no script of the user's);
then back to the data's units with `--metric`."""

import os
import subprocess
import sys

import h5py
import numpy as np
import plyfile

from dd3d_jax import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The documented commands at test size: the budget and the evaluation cut to seconds.
TINY = ['--config.eval.methods=random', '--config.data.num_points=64',
        '--config.distill.train_points=32', '--config.eval.epochs=2', '--config.eval.test_every=1',
        '--config.eval.num_evals=1', '--config.eval.batch_size=16', '--config.render=False']


def command(*args, cwd):
  out = subprocess.run([sys.executable, '-m', *args], cwd=cwd, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  return out


def write_h5_pair(folder):
  os.makedirs(folder)
  rng = np.random.default_rng(0)
  for split, n in (('train', 30), ('test', 10)):
    labels = np.arange(n) % 10
    points = rng.normal(size=(n, 100, 3)) * (1 + labels[:, None, None] % 3)
    with h5py.File(os.path.join(folder, f'{split}.h5'), 'w') as f:
      f['data'] = points.astype(np.float32)
      f['label'] = labels[:, None]


def write_xyz_objects(folder):
  """5 classes x 6 objects of 40 to 300 points, sized 2 to 14 m, at UTM-like offsets."""
  rng = np.random.default_rng(1)
  for c, name in enumerate(('pole', 'tree', 'car', 'house', 'fence')):
    os.makedirs(os.path.join(folder, name))
    for i in range(6):
      size = int(rng.integers(40, 301))
      cloud = rng.normal(size=(size, 3)) * (2 + 3 * c) + np.array([4e5, 5.8e6, 40.0])
      np.savetxt(os.path.join(folder, name, f'obj{i}.xyz'), cloud, fmt='%.3f')


def test_the_custom_config_takes_both_kinds_of_raw_data_to_a_table_and_ply(tmp_path):
  write_h5_pair(str(tmp_path / 'elements'))
  write_xyz_objects(str(tmp_path / 'lidar'))
  runs = {'elements': [], 'lidar': ['--config.data.allow_resample=True',
                                    '--config.data.scale=dataset']}
  for name, flags in runs.items():
    workdir = str(tmp_path / 'runs' / name)
    out = command('dd3d_jax.main', '--config=custom', f'--config.data.path={tmp_path / name}',
                  f'--workdir={workdir}', *flags, *TINY, cwd=tmp_path)
    assert f'dataset {name}:' in out.stderr and 'random' in out.stderr.split('results (')[-1]
    folder = command('dd3d_jax.export', workdir, '--format', 'ply',
                     cwd=tmp_path).stdout.split()[0]
    files = sorted(os.listdir(folder))
    assert len(files) == (10 if name == 'elements' else 5), files
    cloud = plyfile.PlyData.read(os.path.join(folder, files[0]))['vertex']
    assert len(cloud['x']) == 64
  # --metric: the LiDAR sets back in metres (one factor for the whole data).
  workdir = str(tmp_path / 'runs' / 'lidar')
  folder = command('dd3d_jax.export', workdir, '--format', 'ply', '--metric', '--out',
                   str(tmp_path / 'metres'), cwd=tmp_path).stdout.split()[0]
  unit, metres = (np.stack([plyfile.PlyData.read(os.path.join(f, 'house_0.ply'))['vertex'][a]
                            for a in 'xyz'], -1)
                  for f in (os.path.join(workdir, 'export', 'random_0'), folder))
  ratio = np.linalg.norm(metres, axis=-1).max() / np.linalg.norm(unit, axis=-1).max()
  assert 20 < ratio < 60, ratio  # the largest object's radius, in metres
  assert config_lib.config_files()['custom'].endswith('custom.py')
