"""Times the DD3D outer step (one generator update over all classes) after compilation.

    python benchmarks/step.py --classes 10 --cpc 1 --batch-real 32 --points 1024
    python benchmarks/step.py --cpc 1 10 --class-chunk 1 0 --json
    python benchmarks/step.py --classes 40 --points 256 --iterations 3   # + whole iterations

Prints a table, one row per (cpc, class chunk), each measured in a fresh process
so that its memory figures are its own: median step time over --steps steps,
compile time, XLA's FLOP count of the step, achieved GFLOP/s against a large
float32 matmul measured in the same run, the step's scratch memory as XLA plans it
(`temp_size_in_bytes`), and the process's peak resident memory (on a GPU also the
device's peak bytes). `--iterations N` also times N whole iterations (median after
the first): `--loops` outer steps, each with its inner-loop network updates on the
regenerated synthetic set, as the reference iteration (ModelNet40 CPC 1: 10, 1). With
--json the last line is `{"step_s", "compile_s", "flops", "achieved_gflops",
"peak_gflops", "peak_fraction", "peak_rss_mb"}` (+ "iteration_s") for the last row.
Data are random; only shapes matter for timing.

FLOPs: XLA's cost analysis counts a loop body once, so the count is taken from the
same step lowered with all classes in one vmap (no loop), which is the same math.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from dd3d_jax import distill, models, rotator, synthetic
from dd3d_jax import generator as gen_lib


def peak_matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
  """Best float32 matmul rate of this device, in GFLOP/s."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    f(a).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2 * n ** 3 / best / 1e9


def make_distiller(args, cpc: int, chunk: int) -> distill.Distiller:
  rot = rotator.SignRotator() if args.rotated else rotator.IdentityRotator()
  return distill.Distiller(
      synthesizer=synthetic.SirenSet(
          gen_lib.ModulatedSiren(num_classes=args.classes, cpc=cpc, w0_initial=100.0)),
      network=models.make_network('pointnet', args.classes, rot),
      num_classes=args.classes, cpc=cpc, batch_real=args.batch_real, train_points=args.points,
      outer_loop=args.loops[0], inner_loop=args.loops[1], iterations=400, class_chunk=chunk)


def step_flops(d: distill.Distiller, args) -> float:
  """XLA's FLOP count of the step, taken from the loop-free (one vmap) lowering."""
  d = d._replace(class_chunk=0)
  gen_params, opt_state, net_params, real = inputs(d)
  lowered = jax.jit(functools.partial(distill.outer_step, d)).lower(
      gen_params, opt_state, net_params, real, jax.random.key(0))
  cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost['flops'])


def random_real(d: distill.Distiller) -> distill.RealData:
  """Random real clouds of the distiller's shapes: `batch_real` per class."""
  k, n = d.num_classes, d.num_classes * d.batch_real
  points = np.random.default_rng(0).uniform(-1, 1, (n, d.train_points, 3)).astype(np.float32)
  return distill.make_real_data(points, np.arange(n) % k, k)


def inputs(d: distill.Distiller):
  """Random real data of the distiller's shapes, initial generator and network state."""
  real = random_real(d)
  state = distill.init_state(d, jax.random.key(0))
  net_params = d.network.init(jax.random.key(1))
  return state.gen_params, state.opt_state, net_params, real


def time_step(d: distill.Distiller, args) -> dict:
  gen_params, opt_state, net_params, real = inputs(d)
  step = jax.jit(functools.partial(distill.outer_step, d), donate_argnums=(0, 1))
  t = time.perf_counter()
  compiled = step.lower(gen_params, opt_state, net_params, real, jax.random.key(0)).compile()
  compile_s = time.perf_counter() - t
  times = []
  for i in range(args.steps + 1):
    t = time.perf_counter()
    gen_params, opt_state, loss = compiled(gen_params, opt_state, net_params, real,
                                           jax.random.key(i))
    loss.block_until_ready()
    times.append(time.perf_counter() - t)
  return {'step_s': float(np.median(times[1:])), 'compile_s': compile_s,
          'xla_temp_mb': compiled.memory_analysis().temp_size_in_bytes / 2**20}


def time_iterations(d: distill.Distiller, args) -> float:
  """Median seconds of a whole iteration (`make_iteration_fn`), after the first."""
  real = random_real(d)
  state, step, times = distill.init_state(d, jax.random.key(0)), distill.make_iteration_fn(d), []
  for _ in range(args.iterations + 1):
    t = time.perf_counter()
    state, metrics = step(state, real)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t)
  return float(np.median(times[1:]))


def peak_memory() -> dict:
  """This process's peak resident memory and, on a GPU, the device's peak bytes, in MB."""
  out = {'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    out['device_peak_mb'] = stats['peak_bytes_in_use'] / 2**20
  return out


def child(args) -> None:
  """Measures one (cpc, chunk) in this process; prints one JSON line."""
  d = make_distiller(args, args.cpc[0], args.class_chunk[0])
  row = {**time_step(d, args), **peak_memory()}
  if args.iterations:
    row['iteration_s'] = time_iterations(d, args)
  row['flops'] = step_flops(d, args)  # after the memory readings: its compile is not the step's
  print(json.dumps(row))


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--classes', type=int, default=10)
  p.add_argument('--cpc', type=int, nargs='+', default=[1])
  p.add_argument('--batch-real', type=int, default=32)
  p.add_argument('--points', type=int, default=1024)
  p.add_argument('--class-chunk', type=int, nargs='+', default=[1],
                 help='classes per vmapped chunk; 0 = all classes in one vmap')
  p.add_argument('--steps', type=int, default=5)
  p.add_argument('--rotated', action='store_true', help='network behind the sign rotator')
  p.add_argument('--iterations', type=int, default=0, help='also time whole iterations')
  p.add_argument('--loops', type=int, nargs=2, default=[10, 1], metavar=('OUTER', 'INNER'))
  p.add_argument('--json', action='store_true')
  p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    return child(args)

  peak = peak_matmul_gflops()
  device = jax.devices()[0]
  print(f'device: {device.device_kind} ({jax.default_backend()}), float32 matmul peak '
        f'{peak:.1f} GFLOP/s; {args.classes} classes, {args.batch_real} real clouds x '
        f'{args.points} points' + (', rotator' if args.rotated else ''))
  print(f'{"cpc":>4} {"chunk":>5} {"step s":>8} {"compile s":>9} {"GFLOP":>8} '
        f'{"GFLOP/s":>8} {"of peak":>8} {"XLA temp MB":>11} {"peak RSS MB":>11}')
  row = {}
  for cpc in args.cpc:
    for chunk in args.class_chunk:
      cmd = [sys.executable, os.path.abspath(__file__), '--child', '--cpc', str(cpc),
             '--class-chunk', str(chunk), '--classes', str(args.classes),
             '--batch-real', str(args.batch_real), '--points', str(args.points),
             '--steps', str(args.steps), '--iterations', str(args.iterations),
             '--loops', *map(str, args.loops)] + (['--rotated'] if args.rotated else [])
      out = subprocess.run(cmd, capture_output=True, text=True)
      if out.returncode != 0:
        print(f'{cpc:>4} {chunk:>5} failed: {out.stderr.strip().splitlines()[-1]}')
        continue
      m = json.loads(out.stdout.strip().splitlines()[-1])
      rate = m['flops'] / m['step_s'] / 1e9
      row = {'step_s': m['step_s'], 'compile_s': m['compile_s'], 'flops': m['flops'],
             'achieved_gflops': rate, 'peak_gflops': peak, 'peak_fraction': rate / peak,
             'peak_rss_mb': m['peak_rss_mb'], 'xla_temp_mb': m['xla_temp_mb'],
             **{key: m[key] for key in ('device_peak_mb', 'iteration_s') if key in m}}
      print(f'{cpc:>4} {chunk:>5} {row["step_s"]:>8.3f} {row["compile_s"]:>9.1f} '
            f'{row["flops"] / 1e9:>8.1f} {rate:>8.1f} {rate / peak:>8.1%} '
            f'{row["xla_temp_mb"]:>11.0f} {row["peak_rss_mb"]:>11.0f}'
            + (f'  device peak {row["device_peak_mb"]:.0f} MB' if 'device_peak_mb' in row else '')
            + (f'  iteration {row["iteration_s"]:.2f} s' if 'iteration_s' in row else ''),
            flush=True)
  if args.json:
    print(json.dumps(row))


if __name__ == '__main__':
  main()
