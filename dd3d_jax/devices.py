"""The devices of one process as a mesh with one `units` axis, and what runs across it.

Per-class work (the class axis of every matching method, `distill.map_classes`) and
data-parallel training (the batch axis of `training.train_epochs`, so evaluation, the
`full` upper bound and the feature network of herding / k-center) are split along
this axis. `make_mesh(1)` is None: the plain single-device computation.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from dd3d_jax.errors import ConfigError

UNITS = 'units'


def make_mesh(units: int) -> Mesh | None:
  """A mesh of `units` local devices (0: all of them) on one `units` axis, or None for
  one device.

  Raises:
    ConfigError: more units than local devices.
  """
  devices = jax.local_devices()
  units = units or len(devices)
  if units > len(devices):
    raise ConfigError(f'mesh.units is {units}, but this process sees {len(devices)} '
                      f'{devices[0].platform} devices; set mesh.units to at most '
                      f'{len(devices)} (0: all of them).')
  if units == 1:
    return None
  return Mesh(np.asarray(devices[:units]), (UNITS,), axis_types=(AxisType.Auto,))


def shard_batch(x: jax.Array, mesh: Mesh | None) -> jax.Array:
  """`x` with its leading (batch) axis split over the mesh's units (inside jit); as it is
  without a mesh. A batch the units do not divide is padded by XLA, not changed."""
  if mesh is None:
    return x
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P(UNITS)))
