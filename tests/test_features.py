"""The herding/k-center feature network: trained once per workdir, its features cached."""

import numpy as np

from dd3d_jax import data as data_lib
from dd3d_jax import features, tasks
from dd3d_jax.workdir import Workdir
from tests.tiny import tiny_config


def test_features_are_trained_once_and_read_from_the_cache(tmp_path, caplog):
  config = tiny_config('herding')
  dataset = data_lib.load(config.data)
  task = tasks.make(config.task, dataset)
  network = tasks.build_network(config, task, distilling=True)
  cache = Workdir(str(tmp_path)).cache
  with caplog.at_level('INFO', logger='dd3d_jax'):
    embed = features.features_fn(config, network, task, dataset, cache)
    first = embed(1)
    assert embed(1) is first  # kept in memory too
  assert caplog.text.count('features: training a network') == 1
  assert first.shape[0] == len(dataset.train) and first.dtype == np.float32
  with np.load(tmp_path / 'features' / 'e1.npz') as f:
    assert set(f.files) == {'features', 'final_oa', 'best_oa', 'seconds'}
    assert 0 <= f['final_oa'] <= f['best_oa'] <= 100
  caplog.clear()
  with caplog.at_level('INFO', logger='dd3d_jax'):
    again = features.features_fn(config, network, task, dataset, cache)(1)
  assert 'features: training' not in caplog.text
  np.testing.assert_array_equal(again, first)
