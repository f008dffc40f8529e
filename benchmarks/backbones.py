"""Times one training step of each evaluation backbone (batch 32 x 1,024 points).

    python benchmarks/backbones.py                          # every registered network
    python benchmarks/backbones.py --nets pointnet dgcnn --batch 32 --points 1024 --json

One row per network, each measured in a fresh process so that its memory figures
are its own: median step time over --steps steps after compilation, compile time,
XLA's FLOP count of the step, the step's scratch memory as XLA plans it
(`temp_size_in_bytes`), the process's peak resident memory (on a GPU also the
device's peak bytes) and the parameter count. The step is the evaluation's: Adam,
cross-entropy, training mode (BatchNorm statistics, dropout), 40 classes. Data are
random; only shapes matter for timing. XLA counts a loop body once, so the FLOPs of
farthest point sampling (a `fori_loop`) are under-counted; they are small next to the
convolutions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dd3d_jax import registry
from dd3d_jax.models import make_network


def measure(name: str, batch: int, points: int, steps: int, classes: int = 40) -> dict:
  """One network's training step: time, compile time, FLOPs, memory, parameters."""
  network = make_network(name, classes)
  variables = network.init(jax.random.key(0))
  tx = optax.adam(1e-3)
  opt_state = tx.init(variables['params'])
  x = jax.random.uniform(jax.random.key(1), (batch, points, 3), minval=-1, maxval=1)
  y = jnp.arange(batch) % classes

  def step(variables, opt_state, key):
    def loss_fn(params):
      logits, state = network.apply({**variables, 'params': params}, x, train=True, key=key)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), state
    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables['params'])
    updates, opt_state = tx.update(grads, opt_state, variables['params'])
    return {**state, 'params': optax.apply_updates(variables['params'], updates)}, opt_state, loss

  t0 = time.perf_counter()
  compiled = jax.jit(step, donate_argnums=(0, 1)).lower(variables, opt_state,
                                                        jax.random.key(2)).compile()
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  memory = compiled.memory_analysis()
  times = []
  for i in range(steps + 1):
    t = time.perf_counter()
    variables, opt_state, loss = compiled(variables, opt_state, jax.random.key(3 + i))
    loss.block_until_ready()
    times.append(time.perf_counter() - t)
  row = {'net': name, 'step_s': float(np.median(times[1:])), 'compile_s': compile_s,
         'gflop': float(cost.get('flops', float('nan'))) / 1e9,
         'temp_mb': (memory.temp_size_in_bytes / 2 ** 20) if memory else float('nan'),
         'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
         'params': int(sum(p.size for p in jax.tree.leaves(variables['params']['net']))),
         'loss_finite': bool(np.isfinite(float(loss))), 'backend': jax.default_backend()}
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    row['device_peak_mb'] = stats['peak_bytes_in_use'] / 2 ** 20
  return row


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--nets', nargs='*', default=None, help='default: every registered one')
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--points', type=int, default=1024)
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--json', action='store_true', help='also print one JSON line per row')
  parser.add_argument('--one', help=argparse.SUPPRESS)  # child process: one network
  args = parser.parse_args()
  if args.one:
    print(json.dumps(measure(args.one, args.batch, args.points, args.steps)))
    return
  rows = []
  for name in args.nets or registry.names('networks'):
    out = subprocess.run([sys.executable, __file__, '--one', name, '--batch', str(args.batch),
                          '--points', str(args.points), '--steps', str(args.steps)],
                         capture_output=True, text=True, check=True)
    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f'{name}: done', file=sys.stderr)
  print(f'batch {args.batch} x {args.points} points, 40 classes, Adam, training mode, '
        f'{rows[0]["backend"]}')
  print('| network | params | step s | compile s | XLA GFLOP | GFLOP/s | XLA temp MB | '
        'peak RSS MB |')
  print('|---|---:|---:|---:|---:|---:|---:|---:|')
  for r in rows:
    print(f'| {r["net"]} | {r["params"]:,} | {r["step_s"]:.3f} | {r["compile_s"]:.1f} | '
          f'{r["gflop"]:.1f} | {r["gflop"] / r["step_s"]:.1f} | {r["temp_mb"]:,.0f} | '
          f'{r["peak_rss_mb"]:,.0f} |')
  if args.json:
    for r in rows:
      print(json.dumps(r))


if __name__ == '__main__':
  main()
