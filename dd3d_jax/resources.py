"""Memory, known before a run starts: lower bounds of what a config needs, refused in one
line naming the field to lower when they exceed what the machine has.

The bounds count only arrays a run cannot avoid (the dataset's points, and one step's
per-point activations of a synthetic set in the network's widest layer), so a refused
run could not have fitted; a run that passes may still need more.
"""

from __future__ import annotations

import os

import jax

from dd3d_jax import data, registry
from dd3d_jax.errors import ConfigError

FLOAT = 4            # bytes of a float32
WIDEST = 1024        # channels of the widest per-point layer of the distillation PointNet


def _meminfo_available() -> int | None:
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


def host_bytes() -> int | None:
  """Host memory available now (Linux's MemAvailable, else all physical memory), or None
  where neither is known."""
  available = _meminfo_available()
  if available is not None:
    return available
  try:
    return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
  except (ValueError, OSError, AttributeError):
    return None


def device_bytes() -> int | None:
  """Memory of one local accelerator (`bytes_limit`), or None on the CPU or where the
  backend does not say (the host's then bounds it)."""
  device = jax.local_devices()[0]
  if device.platform == 'cpu':
    return None
  stats = device.memory_stats() or {}
  return stats.get('bytes_limit')


def cloud_bytes(num_clouds: int, num_points: int) -> int:
  """float32 points of `num_clouds` clouds of `num_points` points."""
  return num_clouds * num_points * 3 * FLOAT


def activation_bytes(num_clouds: int, num_points: int, width: int = WIDEST) -> int:
  """One forward and one backward copy of `num_clouds` clouds' per-point features in a
  layer of `width` channels: what a step that differentiates through the network holds
  at least."""
  return 2 * num_clouds * num_points * width * FLOAT


def _gib(n: int) -> str:
  return f'{n / 2 ** 30:,.1f} GiB'


def require(need: int, what: str, field: str, device: bool = False) -> None:
  """Raises ConfigError if `need` bytes exceed the memory available: the host's, or with
  `device` one accelerator's (the host's on the CPU). `what` says what needs them (a
  plural subject), `field` what to lower."""
  have, where = (device_bytes(), 'device') if device else (None, 'host')
  if have is None:
    have, where = host_bytes(), 'host'
  if have is not None and need > have:
    raise ConfigError(f'{what} need at least {_gib(need)}, and the {where} has {_gib(have)} '
                      f'available; lower {field}.')


def check_data(data_config) -> None:
  """The dataset's points fit in host memory, where their number is known before reading
  (the procedural shapes: `data.planned_clouds`)."""
  clouds = data.planned_clouds(data_config)
  if clouds is not None:
    require(cloud_bytes(clouds, data_config.num_points),
            f'the {clouds:,} clouds of data.format={data_config.format!r} at '
            f'data.num_points={data_config.num_points:,}', 'data.num_points (or the clouds '
            'per class)')


def check_methods(plan, num_classes: int, cpc: int) -> None:
  """Each planned method's step fits on one device, by its module's `memory(settings,
  num_classes, cpc)` lower bound where it gives one."""
  for p in plan:
    memory = getattr(registry.get('methods', p.type), 'memory', None)
    if memory is not None:
      require(memory(p.settings, num_classes, cpc),
              f'the steps of methods.{p.name} ({num_classes} classes x {cpc:,} clouds at '
              f'{p.settings.train_points:,} points)', 'distill.cpc or distill.train_points',
              device=True)
