"""The DD3D outer step with its classes split over 1, 2, 4 and 8 devices (`mesh.units`).

    python benchmarks/scaling.py                               # forced CPU devices
    python benchmarks/scaling.py --devices 1 2 4 8 --classes 10 40 --cpc 1 10 --points 256

Each (devices, classes, CPC) is measured in a fresh process. On a CPU the devices
are forced (`--xla_force_host_platform_device_count`) and share the machine's cores,
so the table shows how the step is split (per-device memory, the time's shape), not
a speed-up; on a multi-GPU host the same command uses the real devices (pass
`--real` to skip forcing). Reported: median seconds of one outer step (the gradient
matching of every class and one generator update) after compilation, compile
seconds, and XLA's plan of the step's memory per device (temporary + arguments +
outputs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def child(args) -> None:
  import functools

  import jax
  import numpy as np

  from dd3d_jax import devices, distill, models, synthetic
  from dd3d_jax import generator as gen_lib

  k, cpc, n = args.classes[0], args.cpc[0], args.points
  mesh = devices.make_mesh(args.devices[0])
  d = distill.Distiller(
      synthesizer=synthetic.SirenSet(gen_lib.ModulatedSiren(num_classes=k, cpc=cpc,
                                                            w0_initial=100.0)),
      network=models.make_network('pointnet', k), num_classes=k, cpc=cpc,
      batch_real=args.batch_real, train_points=n, outer_loop=10, inner_loop=1,
      iterations=400, class_chunk=args.class_chunk, mesh=mesh)
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(k), args.batch_real)
  real = distill.make_real_data(rng.normal(size=(len(labels), n, 3)).astype(np.float32),
                                labels, k)
  state = distill.init_state(d, jax.random.key(0))
  net_vars = d.network.init(jax.random.key(1))
  step = jax.jit(functools.partial(distill.outer_step, d))
  t0 = time.perf_counter()
  compiled = step.lower(state.gen_params, state.opt_state, net_vars, real,
                        jax.random.key(2)).compile()
  compile_s = time.perf_counter() - t0
  mem = compiled.memory_analysis()
  args_ = (state.gen_params, state.opt_state, net_vars, real)
  jax.block_until_ready(compiled(*args_, jax.random.key(2)))
  times = []
  for i in range(args.steps):
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args_, jax.random.key(3 + i)))
    times.append(time.perf_counter() - t0)
  print(json.dumps({
      'devices': args.devices[0], 'classes': k, 'cpc': cpc, 'points': n,
      'platform': jax.devices()[0].platform, 'step_s': round(float(np.median(times)), 4),
      'compile_s': round(compile_s, 1),
      'mib_per_device': round((mem.temp_size_in_bytes + mem.argument_size_in_bytes
                               + mem.output_size_in_bytes) / 2**20, 1)}))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--devices', type=int, nargs='+', default=[1, 2, 4, 8])
  parser.add_argument('--classes', type=int, nargs='+', default=[10, 40])
  parser.add_argument('--cpc', type=int, nargs='+', default=[1])
  parser.add_argument('--points', type=int, default=256)
  parser.add_argument('--batch-real', type=int, default=32)
  parser.add_argument('--class-chunk', type=int, default=1)
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--real', action='store_true', help='use the real devices')
  parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    child(args)
    return
  rows = []
  for k in args.classes:
    for cpc in args.cpc:
      for n_dev in args.devices:
        env = dict(os.environ)
        if not args.real:
          env.update(JAX_PLATFORMS='cpu',
                     XLA_FLAGS=f"{env.get('XLA_FLAGS', '')} "
                               f'--xla_force_host_platform_device_count={max(args.devices)}')
        cmd = [sys.executable, __file__, '--child', '--devices', str(n_dev), '--classes',
               str(k), '--cpc', str(cpc), '--points', str(args.points), '--batch-real',
               str(args.batch_real), '--class-chunk', str(args.class_chunk), '--steps',
               str(args.steps)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
  print(f'{rows[0]["platform"]}, {args.points} points, {args.batch_real} real clouds per '
        f'class, class chunk {args.class_chunk}: one outer step')
  print('| classes | CPC | devices | step s | vs 1 device | compile s | MiB per device |')
  print('|---|---|---|---|---|---|---|')
  base = {}
  for r in rows:
    one = base.setdefault((r['classes'], r['cpc']), r['step_s'])
    print(f'| {r["classes"]} | {r["cpc"]} | {r["devices"]} | {r["step_s"]} | '
          f'{one / r["step_s"]:.2f}x | {r["compile_s"]} | {r["mib_per_device"]} |')


if __name__ == '__main__':
  main()
