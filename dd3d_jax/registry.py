"""Plug-ins found by name: tasks, methods, objectives, networks, rotators, matching
metrics, data formats.

Tasks, methods, objectives and networks are modules, found with importlib, so nothing
else lists them: `task NAME` is `dd3d_jax.tasks.NAME` (it defines `make`), `methods: type
NAME` is `dd3d_jax.methods.NAME` (it defines `from_config`), an objective NAME (what
`methods.dd3d.objective` trains the generator by) is a method module that defines
`trainer`, and `model.arch NAME` is `dd3d_jax.models.NAME` (it defines `make`). Adding one is adding a file. A plug-in outside
the package is named by its dotted module path (`task='my_package.my_task'`): any
importable module that defines the kind's function. The small fixed choices (rotators,
metrics, data formats) are the tables their own modules already keep.

An unknown name is a `ConfigError` that names the config field and every choice.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from dd3d_jax.errors import ConfigError

# kind -> (package, the function a module of that package defines to be a plug-in)
PACKAGES = {'tasks': ('dd3d_jax.tasks', 'make'),
            'methods': ('dd3d_jax.methods', 'from_config'),
            'objectives': ('dd3d_jax.methods', 'trainer'),
            'networks': ('dd3d_jax.models', 'make')}


def _table(kind: str) -> tuple[str, ...]:
  if kind == 'rotators':
    from dd3d_jax import rotator
    return rotator.KINDS
  if kind == 'metrics':
    from dd3d_jax.objectives import gradient
    return gradient.METRICS
  if kind == 'data formats':
    from dd3d_jax import data
    return ('auto', *data.READERS)
  raise ValueError(f'registry kind {kind!r} is unknown; use one of '
                   f'{sorted([*PACKAGES, "rotators", "metrics", "data formats"])}.')


def names(kind: str) -> tuple[str, ...]:
  """Every registered name of `kind`, sorted (package kinds: each plug-in module)."""
  if kind not in PACKAGES:
    return tuple(sorted(_table(kind)))
  package, entry = PACKAGES[kind]
  found = []
  for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
    if not info.name.startswith('_'):
      if hasattr(importlib.import_module(f'{package}.{info.name}'), entry):
        found.append(info.name)
  return tuple(sorted(found))


def _outside(kind: str, name: str, field: str) -> ModuleType:
  """The module a dotted `name` names, if it is a plug-in of `kind`."""
  entry = PACKAGES[kind][1]
  try:
    module = importlib.import_module(name)
  except (ImportError, TypeError) as e:  # TypeError: a relative name such as '.x'
    raise ConfigError(f'{field} {name!r} cannot be imported ({e}); name a module on the Python '
                      f'path or one of {", ".join(names(kind))}.') from None
  if not hasattr(module, entry):
    raise ConfigError(f'{field} {name!r} defines no {entry}(), so it is not a plug-in of '
                      f'{kind}; add it or use one of {", ".join(names(kind))}.')
  return module


def check(kind: str, name: str, field: str) -> str:
  """Returns `name` if it is registered (or, for a package kind, a dotted path to a
  plug-in module); else one line naming `field` and the choices."""
  if kind in PACKAGES and isinstance(name, str) and '.' in name:
    _outside(kind, name, field)
    return name
  choices = names(kind)
  if name not in choices:
    raise ConfigError(f'{field} {name!r} is unknown; use one of {", ".join(choices)}.')
  return name


def get(kind: str, name: str, field: str | None = None) -> ModuleType | str:
  """The plug-in module of a package kind (tasks, methods, objectives, networks), or the
  checked name."""
  check(kind, name, field or kind[:-1])
  if kind in PACKAGES:
    return importlib.import_module(name if '.' in name else f'{PACKAGES[kind][0]}.{name}')
  return name
