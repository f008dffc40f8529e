"""Command line: `python -m dd3d_jax.main --config=configs/shapes.py --workdir=DIR`.

Variants and overrides: `--config=configs/modelnet40.py:cpc=10,rotated
--config.data.path=/data/modelnet40_ply_hdf5_2048 --config.distill.iterations=50`.
A shipped config loads by name from any directory: `--config=modelnet40:cpc=10`.
A bad flag, config value or input file stops with one line on stderr and status 2; a
Ctrl-C with one line saying where it stopped and status 130.
"""

import logging
import shlex
import sys

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from dd3d_jax import config as config_lib
from dd3d_jax import devices
from dd3d_jax.errors import Interrupted, UserError


def fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


try:  # defining the flag already reads any --flagfile of the command line
  _CONFIG = config_flags.DEFINE_config_file(
      'config', None, 'A config file, or the name of a shipped one: '
      f'{", ".join(config_lib.config_files())} (a variant after ":", e.g. modelnet40:cpc=10).',
      lock_config=True)
except flags.Error as e:
  fail(f'{" ".join(str(e).replace("ERROR::", "").split())}; fix the --flagfile path.')
__doc__ += '\n' + config_lib.describe() + '\n'  # `--help` lists every field
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder (resumes if it holds a run).')
flags.mark_flags_as_required(['config', 'workdir'])


def _config_path(argv) -> str:
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      return arg.split('=', 1)[1].split(':', 1)[0]
    if arg == '--config' and i + 1 < len(argv):
      return argv[i + 1].split(':', 1)[0]
  return 'the config file'


def _shipped_names(argv: list[str]) -> list[str]:
  """argv with a shipped config named instead of a path (`--config=modelnet40:cpc=10`)
  given its path, so that the configs load by name from any directory."""
  out = list(argv)
  for i, arg in enumerate(out):
    if arg.startswith('--config='):
      out[i] = '--config=' + config_lib.resolve_config(arg.split('=', 1)[1])
    elif arg == '--config' and i + 1 < len(out):
      out[i + 1] = config_lib.resolve_config(out[i + 1])
  return out


def parse_flags(argv):
  """absl flag parsing, with every user mistake reported in one line."""
  try:
    argv = _shipped_names(argv)
    rest = flags.FLAGS(argv)
    _CONFIG.value.get('data')  # config_flags defers a load failure to the first access
    return rest
  except UserError as e:
    fail(str(e))
  except flags.Error as e:
    text = str(e)
    if 'Error whilst parsing config file' in text:  # get_config raised a TypeError or
      # ValueError, which config_flags re-raises with the traceback as its message
      last = [line for line in text.splitlines() if line.strip()][-1].strip()
      fail(f'{_config_path(argv)}: get_config() raised {last}; fix the config file.')
    fail(f'{" ".join(text.split())} (see --helpfull).')
  except SyntaxError as e:
    fail(f'{e.filename or _config_path(argv)}, line {e.lineno}: {e.msg}; fix the config file.')
  except (AttributeError, KeyError) as e:  # an override names a field the config lacks
    while e.args and isinstance(e.args[0], BaseException):
      e = e.args[0]
    text = ' '.join(str(e.args[0] if e.args else e).split())
    if 'get_config' in text:
      fail(f'{_config_path(argv)} defines no get_config(); a config file defines '
           '`get_config(arg=None)` returning a ConfigDict (see configs/shapes.py).')
    if "has no attribute 'get'" in text:
      fail(f'get_config() of {_config_path(argv)} does not return a ConfigDict; start it from '
           'dd3d_jax.config.base_config().')
    fail(f'unknown config field {text}')
  except OSError as e:  # config file missing or unloadable
    detail = str(e).strip().splitlines()[-1].strip()
    fail(f'cannot load the config file ({detail}); pass --config=configs/<name>.py.')
  except Exception as e:  # the config file itself raised (NameError, ImportError, ...)
    fail(f'{_config_path(argv)} raised {type(e).__name__}: {" ".join(str(e).split())}; fix the '
         'config file.')


def retry_command(argv: list[str], field: str, value: float, workdir: str) -> str:
  """This command line with `--config.FIELD=value` and a new workdir."""
  drop = (f'--config.{field}=', '--workdir=')
  keep = [a for a in argv[1:] if not a.startswith(drop)]
  return shlex.join(['python', '-m', 'dd3d_jax.main', *keep, f'--config.{field}={value:g}',
                     f'--workdir={workdir.rstrip("/")}_{field.split(".")[-1]}{value:g}'])


def execute(config, workdir: str, argv: list[str]) -> None:
  """Runs the job; every user mistake and failed write ends in one line and status 2, a
  Ctrl-C in one line saying where it stopped and status 130."""
  # The values are checked (pipeline.run checks them again, for library callers) before
  # the pipeline, Orbax and matplotlib are imported: a mistake is one line a second sooner.
  try:
    config_lib.validate(config)
  except UserError as e:
    fail(str(e))
  from dd3d_jax import pipeline, runner
  try:
    pipeline.run(config, workdir)
  except KeyboardInterrupt as e:
    print(str(e) if isinstance(e, Interrupted) else 'interrupted; run the same command again to '
          'resume (finished steps and runs are kept).', file=sys.stderr)
    sys.exit(130)
  except runner.Diverged as e:
    if e.lr_field is None:
      fail(str(e))
    fail(f'{e} Run: {retry_command(argv, e.lr_field, e.lr / 10, workdir)}')
  except UserError as e:
    fail(str(e))
  except OSError as e:  # a write that failed: a full disk, a folder made read-only
    where = f'{e.filename}: ' if e.filename else ''
    fail(f'{where}{e.strerror or e}; free some space or fix the permissions, then run the same '
         'command again: it resumes from the last checkpoint and keeps every finished result.')


def main(argv):
  if len(argv) > 1:
    fail(f'unexpected arguments {" ".join(argv[1:])!r}; every setting is a flag '
         '(--config=..., --workdir=..., --config.FIELD=VALUE).')
  # Progress goes to the 'dd3d_jax' logger; libraries (Orbax) only speak up for warnings.
  absl_logging.set_verbosity(absl_logging.WARNING)
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter('%(asctime)s %(message)s', '%H:%M:%S'))
  log = logging.getLogger('dd3d_jax')
  log.addHandler(handler)
  log.setLevel(logging.INFO)
  log.propagate = False
  try:
    devices.initialize()  # several processes (hosts): join them; one: nothing to do
  except UserError as e:
    fail(str(e))
  if not devices.is_writer():  # process 0 speaks for a job of several
    log.setLevel(logging.WARNING)
  execute(_CONFIG.value, _WORKDIR.value, sys.argv)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
