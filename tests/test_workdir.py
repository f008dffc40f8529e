"""The workdir's npz cache (its checks and repair: tests/test_main.py, end to end)."""

import numpy as np
import pytest

from dd3d_jax.errors import UserError
from dd3d_jax.workdir import Workdir


def test_context_cache_writes_once_and_refuses_a_damaged_file(tmp_path):
  cache, calls = Workdir(str(tmp_path)).cache, []
  make = lambda: calls.append(1) or {'x': np.arange(3)}  # noqa: E731
  for _ in range(2):
    np.testing.assert_array_equal(cache('experts/a.npz', make)['x'], np.arange(3))
  assert calls == [1]
  (tmp_path / 'experts' / 'a.npz').write_bytes(b'PK\x03\x04 torn')
  with pytest.raises(UserError, match=r'a.npz is damaged .*delete it'):
    cache('experts/a.npz', make)
