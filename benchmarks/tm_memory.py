"""Memory of one TM update against `syn_steps`: the unroll rematerialised or stored.

    python benchmarks/tm_memory.py                       # 10 classes, CPC 1 and 10, 256 points
    python benchmarks/tm_memory.py --classes 40 --cpc 10 --steps 10 20 40 80

The gradient of TM's loss (docs/algorithm.md, "TM") flows through `syn_steps` SGD steps
of the student. Stored, every step's activations (and those of its inner gradient)
stay alive for the backward pass, as they do in the PyTorch reference, whose autograd
graph holds the whole unroll: memory grows with the activations times `syn_steps`.
Rematerialised (`methods.tm.remat`, the default), a step's forward is recomputed in
the backward pass and only the student's parameters are kept per step.

Reported per (CPC, syn_steps, remat): XLA's plan for the compiled gradient
(temporary + argument + output bytes; deterministic, the same on every run of a
backend) and, with `--run`, the seconds of one gradient after compilation.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp

from dd3d_jax.methods import tm
from dd3d_jax.models import make_network


def measure(classes: int, cpc: int, points: int, steps: int, remat: bool, run: bool) -> dict:
  network = make_network('pointnet', classes)
  method = tm.TrajectoryMatching(
      network=network, num_classes=classes, cpc=cpc, train_points=points,
      iterations=1, syn_steps=steps, batch_syn=256, expert_epochs=2, min_start_epoch=0,
      max_start_epoch=1, expert_lr=1e-3, lr=1e-3, weight_decay=0.0, optimizer='adam',
      momentum=0.5, lr_lr=1e-5, augment=True, remat=remat)
  k_set, k_net, k_unroll = jax.random.split(jax.random.key(0), 3)
  start = network.init(k_net)['params']
  target = jax.tree.map(lambda x: x + 0.01, start)
  params = {'points': jax.random.uniform(k_set, (classes * cpc, points, 3), minval=-1, maxval=1),
            'syn_lr': jnp.asarray(1e-3)}
  grad = jax.jit(jax.grad(lambda p: method.loss(p, start, target, {}, k_unroll)))
  compiled = grad.lower(params).compile()
  mem = compiled.memory_analysis()
  row = {'classes': classes, 'cpc': cpc, 'points': points, 'syn_steps': steps, 'remat': remat,
         'xla_mib': round((mem.temp_size_in_bytes + mem.argument_size_in_bytes
                           + mem.output_size_in_bytes) / 2**20, 1)}
  if run:
    jax.block_until_ready(compiled(params))
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(params))
    row['seconds'] = round(time.perf_counter() - t0, 3)
  return row


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--classes', type=int, default=10)
  parser.add_argument('--cpc', type=int, nargs='+', default=[1, 10])
  parser.add_argument('--points', type=int, default=256)
  parser.add_argument('--steps', type=int, nargs='+', default=[5, 10, 20, 40, 80])
  parser.add_argument('--run', action='store_true', help='also time one gradient')
  parser.add_argument('--json', action='store_true')
  args = parser.parse_args()
  rows = [measure(args.classes, c, args.points, s, r, args.run)
          for c in args.cpc for s in args.steps for r in (False, True)]
  if args.json:
    print(json.dumps(rows))
    return
  print(f'{jax.devices()[0].platform}, {args.classes} classes x {args.points} points, '
        'XLA plan of one TM gradient (MiB)')
  print('| CPC | syn_steps | stored | rematerialised | stored / remat |' +
        (' s stored | s remat |' if args.run else ''))
  print('|---|---|---|---|---|' + ('---|---|' if args.run else ''))
  for i in range(0, len(rows), 2):
    a, b = rows[i], rows[i + 1]
    line = (f'| {a["cpc"]} | {a["syn_steps"]} | {a["xla_mib"]} | {b["xla_mib"]} | '
            f'{a["xla_mib"] / b["xla_mib"]:.1f}x |')
    if args.run:
      line += f' {a["seconds"]} | {b["seconds"]} |'
    print(line)


if __name__ == '__main__':
  main()
