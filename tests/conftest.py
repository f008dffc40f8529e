"""The fast suite (`-m "not slow"`) compiles with LLVM's optimisation level 1, not 2, and
keeps one compilation cache for the whole session.

Its tests run tiny shapes, so most of their time is XLA compiling programs that then run
for milliseconds. `--xla_backend_optimization_level=1` keeps every XLA (HLO) pass and
changes only how hard LLVM optimises the machine code: GM's step compiles in 5.6 s
instead of 9.8, DD3D's in 9.5 instead of 12.8, and both run as fast (2 idle cores). Level
0 (what `jax_disable_most_optimizations` sets) compiles no faster than 1, runs twice as
slow, and turns finite BatchNorm gradients of the T-Net into NaN in a compiled step, so
it is not used.

Many tests compile the same program: the same tiny pipeline run from several test files,
and from the jobs they start as subprocesses, each in a process of its own. JAX's
persistent compilation cache, keyed on the program itself (and the XLA flags), lets the
second one load the first one's executable instead of compiling it again. The cache is a
fresh temporary folder per session, removed at its end, so nothing carries between
sessions.

Both reach the jobs that tests start as subprocesses and pytest-xdist's workers through
the environment (XLA_FLAGS, JAX_COMPILATION_CACHE_DIR). Every other selection (`-m slow`,
no `-m`) and `DD3D_TEST_OPTIMIZED=1` keep XLA's defaults and compile every program, the
code as users run it; the benchmarks and the device check always do.
"""

import os
import shutil
import tempfile

LEVEL = '--xla_backend_optimization_level'
CACHE = 'JAX_COMPILATION_CACHE_DIR'
MIN_SECONDS = 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'


def pytest_configure(config):
  fast = 'not slow' in (config.getoption('markexpr') or '')
  if not fast or os.environ.get('DD3D_TEST_OPTIMIZED') == '1':
    return
  flags = os.environ.get('XLA_FLAGS', '')
  if LEVEL not in flags:
    os.environ['XLA_FLAGS'] = f'{flags} {LEVEL}=1'.strip()  # read when XLA starts
  if CACHE not in os.environ:  # the session's first process (xdist's workers inherit it)
    config.dd3d_cache = os.environ[CACHE] = tempfile.mkdtemp(prefix='dd3d-test-xla-')
    os.environ.setdefault(MIN_SECONDS, '0.2')


def pytest_unconfigure(config):
  if getattr(config, 'dd3d_cache', None):
    shutil.rmtree(config.dd3d_cache, ignore_errors=True)
