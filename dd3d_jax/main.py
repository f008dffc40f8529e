"""Command line: `python -m dd3d_jax.main --config=configs/shapes.py --workdir=DIR`.

Variants and overrides: `--config=configs/modelnet40.py:cpc=10,rotated
--config.data.path=/data/modelnet40_ply_hdf5_2048 --config.distill.iterations=50`.
A bad flag, config value or input file stops with one line on stderr and status 2.
"""

import logging
import sys

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from dd3d_jax import pipeline
from dd3d_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Path to a configs/*.py file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder (resumes if it holds a run).')
flags.mark_flags_as_required(['config', 'workdir'])


def fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def parse_flags(argv):
  """absl flag parsing, with every user mistake reported in one line."""
  try:
    argv = flags.FLAGS(argv)
    _CONFIG.value.get('data')  # config_flags defers a load failure to the first access
    return argv
  except UserError as e:
    fail(str(e))
  except flags.Error as e:
    fail(f'{e} (see --helpfull).')
  except (AttributeError, KeyError) as e:  # an override names a field the config lacks
    while e.args and isinstance(e.args[0], BaseException):
      e = e.args[0]
    fail(f'unknown config field {" ".join(str(e.args[0] if e.args else e).split())}')
  except OSError as e:  # config file missing or unloadable
    detail = str(e).strip().splitlines()[-1].strip()
    fail(f'cannot load the config file ({detail}); pass --config=configs/<name>.py.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  # Progress goes to the 'dd3d_jax' logger; libraries (Orbax) only speak up for warnings.
  absl_logging.set_verbosity(absl_logging.WARNING)
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter('%(asctime)s %(message)s', '%H:%M:%S'))
  log = logging.getLogger('dd3d_jax')
  log.addHandler(handler)
  log.setLevel(logging.INFO)
  log.propagate = False
  try:
    pipeline.run(_CONFIG.value, _WORKDIR.value)
  except UserError as e:
    fail(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
