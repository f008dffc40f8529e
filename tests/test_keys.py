"""Key streams: one per purpose, never shared."""

import jax
import numpy as np

from dd3d_jax import keys


def test_key_streams_are_distinct_per_purpose():
  streams = [keys.stream(0, purpose, i) for purpose in ('init', 'export', 'eval/pointnet',
                                                      'features') for i in range(5)]
  data = {tuple(np.asarray(jax.random.key_data(k)).tolist()) for k in streams}
  assert len(data) == len(streams)
  assert (np.asarray(jax.random.key_data(keys.stream(0, 'init', 4))) !=
          np.asarray(jax.random.key_data(jax.random.fold_in(jax.random.key(0), 4)))).any()
