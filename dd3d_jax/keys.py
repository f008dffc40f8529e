"""Key streams: every random key of the main job comes from `stream(seed, purpose, *indices)`.

Each purpose ('init', 'export', 'eval/<backbone>', 'features', ...) has its own key
stream, shared by the methods so that comparisons are paired: with the same seed and
index d, `random`, `gm` and `dm` start from the same real clouds, and every method's
evaluation run (d, s) trains from the same network initialisation and batch order.
"""

from __future__ import annotations

import zlib

import jax


def stream(seed: int, purpose: str, *indices: int) -> jax.Array:
  """The key of one purpose ('init', 'export', 'eval/<backbone>', 'features', ...) and
  indices; distinct purposes never share keys, whatever the indices."""
  key = jax.random.fold_in(jax.random.key(seed), zlib.crc32(purpose.encode()) & 0x7FFFFFFF)
  for i in indices:
    key = jax.random.fold_in(key, i)
  return key
