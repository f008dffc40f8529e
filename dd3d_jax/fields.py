"""What a config field accepts: rules that `config.validate` applies to every field and
that each method module declares for its own settings (`FIELDS`, beside its `DEFAULTS`).

    from dd3d_jax import fields
    DEFAULTS = {'lr': fields.inherit(float), 'momentum': 0.5}   # inherit: the `distill` field
    FIELDS = {'lr': fields.POSITIVE, 'momentum': fields.number(0, below=1)}

A value that breaks its rule is one line naming the field and what it must be, or, for
a name, every choice.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from ml_collections import config_dict

from dd3d_jax import registry
from dd3d_jax.errors import ConfigError


class Rule(NamedTuple):
  """What a field accepts: `ok(value)`, and `says`, the end of "FIELD must be ...".
  A rule with `choices` reports "FIELD 'x' is unknown; use one of ..." instead; one with
  `kind` is a registered name (`registry.check`: a plug-in module's dotted path too)."""
  ok: Callable[[Any], bool]
  says: str
  choices: Callable[[], tuple[str, ...]] | None = None
  kind: str | None = None


def is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(lo: int, below: int | None = None) -> Rule:
  """An integer >= lo, and < below if given."""
  says = 'a positive integer' if lo == 1 else f'an integer >= {lo}'
  if below is not None:
    shown = f'2**{below.bit_length() - 1}' if below > 2 ** 20 and below & (below - 1) == 0 else below
    says = f'an integer in [{lo}, {shown})'
  return Rule(lambda v: is_int(v) and v >= lo and (below is None or v < below), says)


def number(lo: float, *, above: bool = False, below: float | None = None) -> Rule:
  """A finite number >= lo (> lo if `above`), and < below if given."""
  says = f'a finite number {">" if above else ">="} {lo:g}'
  if below is not None:
    says = f'a finite number in {"(" if above else "["}{lo:g}, {below:g})'
  return Rule(lambda v: (is_number(v) and (v > lo if above else v >= lo)
                         and (below is None or v < below)), says)


def choice(*options: str) -> Rule:
  return Rule(lambda v: v in options, '', lambda: options)


def registered(kind: str) -> Rule:
  """A name of `registry.names(kind)`, or (tasks, methods, networks, objectives) the
  dotted path of a plug-in module."""
  return Rule(lambda v: True, '', lambda: registry.names(kind), kind)


BOOL = Rule(lambda v: isinstance(v, bool), 'True or False')
STRING = Rule(lambda v: isinstance(v, str), 'a string')
POSITIVE = number(0, above=True)
NON_NEGATIVE = number(0)
OPTIMIZERS = ('adam', 'sgd')
OPTIMIZER = choice(*OPTIMIZERS)
# The augmentation settings of the matching objectives (GM's and DM's `augment`): on or
# off, a turn about the up axis, the largest fraction of points dropped.
AUGMENT = {'augment': BOOL, 'augment_up': BOOL, 'augment_dropout': number(0, below=1)}


def check_augment(settings: Any, defaults: dict, where: str) -> None:
  """`augment_up` and `augment_dropout` add to `augment`'s draw, so without `augment`
  they would do nothing: refused (`settings` over `defaults`, the method's `DEFAULTS`)."""
  value = lambda k: settings.get(k) if settings.get(k) is not None else defaults.get(k)  # noqa: E731
  extra = [k for k in ('augment_up', 'augment_dropout') if value(k)]
  if extra and not value('augment'):
    raise ConfigError(f'{where}.{extra[0]} needs {where}.augment, which is off; set '
                      f'{where}.augment=True or remove {where}.{extra[0]}.')


class Inherit(NamedTuple):
  """A method's default that means "the `distill` (or `eval`) field of the same name"."""
  type: type


def inherit(kind: type) -> Inherit:
  return Inherit(kind)


def default_value(value: Any) -> Any:
  """A `DEFAULTS` value as a config holds it: `inherit(t)` becomes a fresh None
  placeholder of type t (one shared reference would tie the fields together)."""
  return config_dict.placeholder(value.type) if isinstance(value, Inherit) else value


def check(rule: Rule, field: str, value: Any) -> None:
  """Raises `ConfigError` naming `field` if `value` breaks `rule`."""
  if rule.kind is not None:
    registry.check(rule.kind, value, field)
  elif rule.choices is not None:
    if not rule.ok(value):
      shown = rule.choices()
      shown = ', '.join(map(repr, shown)) if '' in shown else ', '.join(shown)
      raise ConfigError(f'{field} {value!r} is unknown; use one of {shown}.')
  elif not rule.ok(value):
    raise ConfigError(f'{field} must be {rule.says}, got {value!r}.')
