"""The devices of the job as a mesh with one `units` axis, and what runs across it.

Per-class work (the class axis of every matching method, `distill.map_classes`) and
data-parallel training (the batch axis of `training.train_epochs`, so evaluation, the
`full` upper bound and the feature network of herding / k-center) are split along
this axis. `make_mesh(1)` is None: the plain single-device computation. `describe(units)` is the
line the job's log starts with (JAX version, backend, processes, devices, mesh).

Several hosts: `initialize()` joins JAX's distributed runtime when the environment
names a job of several processes (`coordinator`), and only then; every process runs
the same program on the same data, the mesh spans the devices of all of them, and
only process 0 writes records and pictures (`is_writer`); Orbax checkpoints are
written by all processes together, so the workdir must be one folder every host
sees (a shared disk).
"""

from __future__ import annotations

import collections
import os
from typing import Mapping

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from dd3d_jax.errors import ConfigError

UNITS = 'units'


def coordinator(environ: Mapping[str, str]) -> dict | None:
  """The arguments of `jax.distributed.initialize` that the environment names, or None
  for a job of one process (a laptop, one VM: nothing to join).

  Recognised: `JAX_COORDINATOR_ADDRESS` (host:port of process 0) with
  `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`; a SLURM step of several tasks; a Cloud TPU
  slice of several hosts (`TPU_WORKER_HOSTNAMES` or `MEGASCALE_COORDINATOR_ADDRESS`);
  an Open MPI job of several ranks. The last three JAX detects itself (`{}`).

  Raises:
    ConfigError: JAX_COORDINATOR_ADDRESS without valid process count and id.
  """
  if environ.get('JAX_COORDINATOR_ADDRESS'):
    try:
      count, index = int(environ['JAX_NUM_PROCESSES']), int(environ['JAX_PROCESS_ID'])
    except (KeyError, ValueError):
      count = index = -1
    if not 0 <= index < count:
      raise ConfigError(
          f'JAX_COORDINATOR_ADDRESS is set, but JAX_NUM_PROCESSES '
          f'({environ.get("JAX_NUM_PROCESSES")!r}) and JAX_PROCESS_ID '
          f'({environ.get("JAX_PROCESS_ID")!r}) are not a process count and an id below it; '
          'set both on every host (or unset JAX_COORDINATOR_ADDRESS for one process).')
    return {'coordinator_address': environ['JAX_COORDINATOR_ADDRESS'],
            'num_processes': count, 'process_id': index}
  several = (int(environ.get('SLURM_NTASKS', '1') or 1) > 1 and 'SLURM_JOB_ID' in environ
             or ',' in environ.get('TPU_WORKER_HOSTNAMES', '')
             or bool(environ.get('MEGASCALE_COORDINATOR_ADDRESS'))
             or int(environ.get('OMPI_COMM_WORLD_SIZE', '1') or 1) > 1)
  return {} if several else None


def initialize(environ: Mapping[str, str] = os.environ) -> None:
  """Joins JAX's distributed runtime when `coordinator(environ)` names a job of several
  processes (before any computation); a no-op for one process or when already joined."""
  kwargs = coordinator(environ)
  if kwargs is None or jax.distributed.is_initialized():
    return
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')  # CPU processes: by Gloo
  jax.distributed.initialize(**kwargs)


def is_writer() -> bool:
  """Whether this process writes records, sets and pictures (process 0 of the job)."""
  return jax.process_index() == 0


def check_units(units: int) -> int:
  """The number of devices `mesh.units` asks for (0: all devices of the job).

  Raises:
    ConfigError: more units than devices; a part of the devices of a job of several
      processes.
  """
  count = jax.device_count()
  if units > count:
    raise ConfigError(f'mesh.units is {units}, but this job sees {count} '
                      f'{jax.devices()[0].platform} devices; set mesh.units to at most '
                      f'{count} (0: all of them).')
  if jax.process_count() > 1 and units not in (0, count):
    raise ConfigError(f'mesh.units is {units}, but a job of {jax.process_count()} processes '
                      f'splits its work over all {count} devices; set mesh.units to 0.')
  return units or count


def make_mesh(units: int) -> Mesh | None:
  """A mesh of `units` devices of the job (0: all of them, over every process) on one
  `units` axis, or None for one device (see `check_units` for the errors)."""
  units = check_units(units)
  if units == 1:
    return None
  return Mesh(np.asarray(jax.devices()[:units]), (UNITS,), axis_types=(AxisType.Auto,))


def _count(n: int, one: str, many: str) -> str:
  return f'{n} {one if n == 1 else many}'


def describe(units: int) -> str:
  """One line for the log: the JAX version and backend, the processes and devices of
  the job (how many of each kind) and the mesh that `mesh.units` gives."""
  kinds = collections.Counter(d.device_kind for d in jax.devices())
  return (f'JAX {jax.__version__}, {jax.default_backend()} backend: '
          f'{_count(jax.process_count(), "process", "processes")}, '
          f'{_count(jax.device_count(), "device", "devices")} '
          f'({", ".join(f"{c} x {kind}" for kind, c in kinds.items())}); mesh of '
          f'{_count(check_units(units), "unit", "units")}.')


def shard_batch(x: jax.Array, mesh: Mesh | None) -> jax.Array:
  """`x` with its leading (batch) axis split over the mesh's units (inside jit); as it is
  without a mesh. A batch the units do not divide is padded by XLA, not changed."""
  if mesh is None:
    return x
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P(UNITS)))


def replicate(x, mesh: Mesh | None):
  """`x` (a pytree) copied whole to every unit (inside jit), so that every process can
  read it on the host; as it is without a mesh."""
  if mesh is None:
    return x
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P()))


def place_replicated(x, mesh: Mesh | None):
  """A copy of `x` (a pytree; outside jit) committed whole to every unit of `mesh`, where
  `replicate` keeps it inside jit; without a mesh, committed to the device each array lies
  on. A fresh state (not committed) and one restored from a checkpoint (committed to one
  device) then enter a jitted step alike: one program, and no clash with the mesh."""
  def place(a):
    if not isinstance(a, jax.Array):
      return a
    return jax.device_put(a, a.sharding if mesh is None else NamedSharding(mesh, P()),
                          may_alias=False)
  return jax.tree.map(place, x)


def resolve_class_chunk(class_chunk: int) -> int:
  """-1 picks per backend: 1 on CPU (sequential map is faster and lighter there), else 0."""
  if class_chunk >= 0:
    return class_chunk
  return 1 if jax.default_backend() == 'cpu' else 0
