"""Times the DD3D outer step (one generator update over all classes) after compilation.

    python benchmarks/step.py --classes 10 --cpc 1 --batch-real 32 --points 1024
    python benchmarks/step.py --cpc 1 10 --class-chunk 1 0 --json

Prints a table, one row per (cpc, class chunk): median step time over --steps
steps, compile time, XLA's FLOP count of the step, achieved GFLOP/s against a
large float32 matmul measured in the same run, and the process's peak resident
memory (on a GPU also the device's peak bytes). With --json the last line is
`{"step_s", "compile_s", "flops", "achieved_gflops", "peak_gflops", "peak_fraction",
"peak_rss_mb"}` for the last row. Data are random; only shapes matter for timing.

FLOPs: XLA's cost analysis counts a loop body once, so the count is taken from the
same step lowered with all classes in one vmap (no loop), which is the same math.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
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
      classifier=models.make_classifier('pointnet', args.classes, rot),
      num_classes=args.classes, cpc=cpc, batch_real=args.batch_real, train_points=args.points,
      outer_loop=10, inner_loop=1, iterations=400, class_chunk=chunk)


def step_flops(d: distill.Distiller, args) -> float:
  """XLA's FLOP count of the step, taken from the loop-free (one vmap) lowering."""
  d = d._replace(class_chunk=0)
  gen_params, opt_state, net_params, real = inputs(d, args)
  lowered = jax.jit(functools.partial(distill.outer_step, d)).lower(
      gen_params, opt_state, net_params, real, jax.random.key(0))
  cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost['flops'])


def inputs(d: distill.Distiller, args):
  n = args.classes * args.batch_real
  points = np.random.default_rng(0).uniform(-1, 1, (n, args.points, 3)).astype(np.float32)
  real = distill.make_real_data(points, np.arange(n) % args.classes, args.classes)
  state = distill.init_state(d, jax.random.key(0))
  net_params = d.classifier.init(jax.random.key(1))
  return state.gen_params, state.opt_state, net_params, real


def time_step(d: distill.Distiller, args) -> dict:
  gen_params, opt_state, net_params, real = inputs(d, args)
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
  return {'step_s': float(np.median(times[1:])), 'compile_s': compile_s}


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
  p.add_argument('--json', action='store_true')
  args = p.parse_args()

  peak = peak_matmul_gflops()
  device = jax.devices()[0]
  print(f'device: {device.device_kind} ({jax.default_backend()}), float32 matmul peak '
        f'{peak:.1f} GFLOP/s; {args.classes} classes, {args.batch_real} real clouds x '
        f'{args.points} points')
  header = (f'{"cpc":>4} {"chunk":>5} {"step s":>8} {"compile s":>9} {"GFLOP":>8} '
            f'{"GFLOP/s":>8} {"of peak":>8} {"peak RSS MB":>11}')
  print(header)
  row = {}
  for cpc in args.cpc:
    for chunk in args.class_chunk:
      d = make_distiller(args, cpc, chunk)
      flops = step_flops(d, args)
      timing = time_step(d, args)
      rate = flops / timing['step_s'] / 1e9
      rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
      row = {**timing, 'flops': flops, 'achieved_gflops': rate, 'peak_gflops': peak,
             'peak_fraction': rate / peak, 'peak_rss_mb': rss}
      stats = device.memory_stats() or {}
      if 'peak_bytes_in_use' in stats:
        row['device_peak_mb'] = stats['peak_bytes_in_use'] / 2**20
      print(f'{cpc:>4} {chunk:>5} {row["step_s"]:>8.3f} {row["compile_s"]:>9.1f} '
            f'{flops / 1e9:>8.1f} {rate:>8.1f} {rate / peak:>8.1%} {rss:>11.0f}'
            + (f'  device peak {row["device_peak_mb"]:.0f} MB' if 'device_peak_mb' in row else ''))
  if args.json:
    print(json.dumps(row))


if __name__ == '__main__':
  main()
