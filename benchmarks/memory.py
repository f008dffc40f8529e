"""Peak memory of one outer step: DD3D's generator vs a fixed tensor of clouds.

    python benchmarks/memory.py                      # CPC 1/10/50 x 256/512/1024 points
    python benchmarks/memory.py --cpc 1 10 --points 256 --plot benchmarks/memory_cpu.png

For every (CPC, training resolution) and both synthetic sets (DD3D's modulated
SIREN; the GM baseline's [K*cpc, N, 3] tensor of the same size), a fresh process
builds the step, runs it twice, and reports the step's memory as XLA plans it
(scratch + arguments + outputs of the compiled step: deterministic, what the ratio
uses on a CPU), the process's peak resident memory and, on a GPU, the device's peak
bytes (what the ratio uses there); and the size of the synthetic set itself (the
SIREN's parameters against the tensor), the other reading of "memory". The paper's Fig. 6 claims DD3D needs about 4x
less memory than a tensor at CPC 10. Prints a table with the DD3D / tensor ratio
and saves a PNG plot.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys


def child(args) -> None:
  """Measures one configuration in this process; prints one JSON line."""
  import jax

  import step as step_bench
  from dd3d_jax import distill, models, synthetic
  from dd3d_jax import generator as gen_lib

  k, cpc, n_points = args.classes, args.cpc[0], args.points[0]
  if args.method == 'dd3d':
    synth = synthetic.SirenSet(gen_lib.ModulatedSiren(num_classes=k, cpc=cpc,
                                                      w0_initial=100.0))
  else:
    synth = synthetic.TensorSet(k, cpc, n_points)
  d = distill.Distiller(synthesizer=synth, network=models.make_network('pointnet', k),
                        num_classes=k, cpc=cpc, batch_real=args.batch_real,
                        train_points=n_points, outer_loop=1, inner_loop=1, iterations=1,
                        class_chunk=args.class_chunk)
  params, opt, net, real = step_bench.inputs(d)
  set_bytes = sum(x.nbytes for x in jax.tree.leaves(params))
  step = jax.jit(functools.partial(distill.outer_step, d), donate_argnums=(0, 1))
  compiled = step.lower(params, opt, net, real, jax.random.key(0)).compile()
  plan = compiled.memory_analysis()
  for i in range(2):
    params, opt, loss = compiled(params, opt, net, real, jax.random.key(i))
    loss.block_until_ready()
  step_bytes = (plan.temp_size_in_bytes + plan.argument_size_in_bytes
                + plan.output_size_in_bytes - plan.alias_size_in_bytes)
  out = {'method': args.method, 'cpc': cpc, 'points': n_points,
         'step_mb': step_bytes / 2**20, 'set_mb': set_bytes / 2**20, **step_bench.peak_memory()}
  print(json.dumps(out))


def plot(rows: list[dict], path: str, key: str) -> None:
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  cpcs = sorted({r['cpc'] for r in rows})
  fig, axes = plt.subplots(1, len(cpcs), figsize=(4 * len(cpcs), 3.5), squeeze=False)
  for ax, cpc in zip(axes[0], cpcs):
    for method, style in (('dd3d', 'o-'), ('tensor', 's--')):
      pts = sorted((r['points'], r[key]) for r in rows if r['cpc'] == cpc and r['method'] == method)
      ax.plot([p for p, _ in pts], [m for _, m in pts], style, label=method)
    ax.set_title(f'CPC {cpc}')
    ax.set_xlabel('training points per cloud')
    ax.set_ylabel('XLA step memory (MB)' if key == 'step_mb' else 'device peak (MB)')
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path)


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--cpc', type=int, nargs='+', default=[1, 10, 50])
  p.add_argument('--points', type=int, nargs='+', default=[256, 512, 1024])
  p.add_argument('--classes', type=int, default=10)
  p.add_argument('--batch-real', type=int, default=32)
  p.add_argument('--class-chunk', type=int, default=1)
  p.add_argument('--plot', default='memory.png', help='where to save the PNG plot')
  p.add_argument('--method', choices=['dd3d', 'tensor'], help=argparse.SUPPRESS)
  p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    return child(args)

  rows = []
  print(f'{"cpc":>4} {"points":>6} {"DD3D step MB":>12} {"tensor step MB":>14} {"ratio":>6} '
        f'{"DD3D peak RSS":>13} {"tensor peak RSS":>15} {"DD3D set MB":>11} {"tensor set MB":>13}')
  for cpc in args.cpc:
    for n in args.points:
      pair = {}
      for method in ('dd3d', 'tensor'):
        cmd = [sys.executable, os.path.abspath(__file__), '--child', '--method', method,
               '--cpc', str(cpc), '--points', str(n), '--classes', str(args.classes),
               '--batch-real', str(args.batch_real), '--class-chunk', str(args.class_chunk)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        pair[method] = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(pair[method])
      key = 'device_peak_mb' if 'device_peak_mb' in pair['dd3d'] else 'step_mb'
      print(f'{cpc:>4} {n:>6} {pair["dd3d"][key]:>12.0f} {pair["tensor"][key]:>14.0f} '
            f'{pair["dd3d"][key] / pair["tensor"][key]:>6.2f} '
            f'{pair["dd3d"]["peak_rss_mb"]:>13.0f} {pair["tensor"]["peak_rss_mb"]:>15.0f} '
            f'{pair["dd3d"]["set_mb"]:>11.2f} {pair["tensor"]["set_mb"]:>13.2f}', flush=True)
  plot(rows, args.plot, 'device_peak_mb' if 'device_peak_mb' in rows[0] else 'step_mb')
  print(f'plot: {args.plot}')


if __name__ == '__main__':
  main()
