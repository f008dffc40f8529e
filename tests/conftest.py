"""The fast suite (`-m "not slow"`) compiles with LLVM's optimisation level 1, not 2.

Its tests run tiny shapes, so most of their time is XLA compiling programs that then run
for milliseconds. `--xla_backend_optimization_level=1` keeps every XLA (HLO) pass and
changes only how hard LLVM optimises the machine code: GM's step compiles in 5.6 s
instead of 9.8, DD3D's in 9.5 instead of 12.8, and both run as fast (2 idle cores). Level
0 (what `jax_disable_most_optimizations` sets) compiles no faster than 1, runs twice as
slow, and turns finite BatchNorm gradients of the T-Net into NaN in a compiled step, so
it is not used. The flag reaches the jobs that tests start as subprocesses (XLA_FLAGS).
Every other selection (`-m slow`, no `-m`) and `DD3D_TEST_OPTIMIZED=1` keep XLA's
defaults, the code as users run it; the benchmarks and the device check always do.
"""

import os

LEVEL = '--xla_backend_optimization_level'


def pytest_configure(config):
  fast = 'not slow' in (config.getoption('markexpr') or '')
  flags = os.environ.get('XLA_FLAGS', '')
  if fast and os.environ.get('DD3D_TEST_OPTIMIZED') != '1' and LEVEL not in flags:
    os.environ['XLA_FLAGS'] = f'{flags} {LEVEL}=1'.strip()  # read when XLA starts
