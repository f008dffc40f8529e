"""Where the outer step's time goes: a jax.profiler trace, summed per XLA operation.

    python benchmarks/profile.py --classes 10 --cpc 1 --batch-real 32 --points 1024

Traces --steps compiled steps (same shapes and flags as benchmarks/step.py), then sums
the device time of every XLA operation (a thunk on the CPU, a kernel on a GPU) and
prints the top operations with their kind (dot, fusion, reduce...) and the JAX source
that produced them (the HLO's `op_name` metadata), then the same time grouped by
the deepest named Flax module or JAX transform in that source. The raw trace stays in
--trace-dir for Perfetto or TensorBoard.
"""

from __future__ import annotations

import argparse
import collections
import functools
import glob
import gzip
import json
import re

import jax

import step as step_bench

HLO_LINE = re.compile(r'^\s*(?:ROOT\s+)?%?([\w.\-]+) = \S+ (\w[\w-]*)\(')
OP_NAME = re.compile(r'op_name="([^"]*)"')


def hlo_index(hlo_text: str) -> dict[str, tuple[str, str]]:
  """HLO instruction name -> (opcode, JAX op_name metadata)."""
  index = {}
  for line in hlo_text.splitlines():
    m = HLO_LINE.match(line)
    if m:
      op_name = OP_NAME.search(line)
      index[m.group(1)] = (m.group(2), op_name.group(1) if op_name else '')
  return index


def trace_events(trace_dir: str) -> list[dict]:
  path = sorted(glob.glob(f'{trace_dir}/**/perfetto_trace.json.gz', recursive=True))[-1]
  with gzip.open(path) as f:
    data = json.load(f)
  return [e for e in (data['traceEvents'] if isinstance(data, dict) else data)
          if e.get('ph') == 'X']


PASSES = {0: 'forward', 1: 'backward', 2: 'backward of backward'}


def source_group(op_name: str) -> str:
  """'jit(f)/while/body/transpose(jvp(PointNetCls))/PointNetCls.embed/conv3/dot_general'
  -> 'PointNetCls.embed/conv3 (backward)': the module path without JAX transforms, and
  the pass, counted by the `transpose` (reverse-mode) transforms around it."""
  parts = op_name.split('/')[1:-1]
  names = []
  for part in parts:
    while m := re.fullmatch(r'\w+\((.*)\)', part):  # strip transforms: jvp(...), vmap(...)
      part = m.group(1)
    if part and part not in ('while', 'body', 'cond', 'closed_call', 'checkpoint', 'remat'):
      names.append(part)
  names = [n for n in names if '.' in n or n not in ('PointNetCls', 'ModulatedSiren')] or names
  where = '/'.join(names[-2:]) or '(outside modules)'
  return f'{where} ({PASSES.get(op_name.count("transpose("), "higher order")})'


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--classes', type=int, default=10)
  p.add_argument('--cpc', type=int, default=1)
  p.add_argument('--batch-real', type=int, default=32)
  p.add_argument('--points', type=int, default=1024)
  p.add_argument('--class-chunk', type=int, default=1)
  p.add_argument('--rotated', action='store_true')
  p.add_argument('--steps', type=int, default=3)
  p.add_argument('--loops', type=int, nargs=2, default=[10, 1], metavar=('OUTER', 'INNER'),
                 help="the distiller's loops (they set its learning-rate schedule only)")
  p.add_argument('--top', type=int, default=20)
  p.add_argument('--trace-dir', default='/tmp/dd3d_step_trace')
  args = p.parse_args()

  d = step_bench.make_distiller(args, args.cpc, args.class_chunk)
  gen_params, opt_state, net_params, real = step_bench.inputs(d)
  compiled = jax.jit(functools.partial(step_bench.distill.outer_step, d)).lower(
      gen_params, opt_state, net_params, real, jax.random.key(0)).compile()
  index = hlo_index(compiled.as_text())
  compiled(gen_params, opt_state, net_params, real, jax.random.key(0))[-1].block_until_ready()
  with jax.profiler.trace(args.trace_dir, create_perfetto_trace=True):
    for i in range(args.steps):
      compiled(gen_params, opt_state, net_params, real, jax.random.key(i))[-1].block_until_ready()

  per_op = collections.Counter()
  for e in trace_events(args.trace_dir):
    if e['name'] in index:
      per_op[e['name']] += e.get('dur', 0.0) / 1e6 / args.steps
  total = sum(per_op.values())
  print(f'{args.classes} classes, cpc {args.cpc}, {args.batch_real} real x {args.points} '
        f'points, chunk {args.class_chunk}: {total:.3f} s of XLA operations per step')
  print(f'{"op":<28} {"kind":<14} {"s/step":>7} {"share":>6}  source')
  for name, sec in per_op.most_common(args.top):
    kind, op_name = index[name]
    print(f'{name[:28]:<28} {kind:<14} {sec:>7.3f} {sec / total:>6.1%}  {op_name[-90:]}')
  groups = collections.Counter()
  kinds = collections.Counter()
  for name, sec in per_op.items():
    kind, op_name = index[name]
    groups[source_group(op_name)] += sec
    kinds[kind] += sec
  print(f'\n{"by source (module, pass)":<48} {"s/step":>7} {"share":>6}')
  for g, sec in groups.most_common(args.top):
    print(f'{g[-48:]:<48} {sec:>7.3f} {sec / total:>6.1%}')
  print(f'\n{"by kind":<48} {"s/step":>7} {"share":>6}')
  for k, sec in kinds.most_common():
    print(f'{k:<48} {sec:>7.3f} {sec / total:>6.1%}')


if __name__ == '__main__':
  main()
