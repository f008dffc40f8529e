"""Memory of one TM update against `syn_steps`, measured in PyTorch (the reference's way).

    pip install torch==2.13.0                        # measured with its CPU build, 1 thread
    python benchmarks/tm_memory_torch.py             # 10 classes x 256 points; CPC 1, CPC 10
    python benchmarks/tm_memory_torch.py --cpc 10 --steps 20 40 --allow-large

One update of trajectory matching as GeorgeCazenavette/mtt-distillation's `distill.py`
does it (docs/algorithm.md, "TM"): the student's parameters are one flat vector, the network
is called functionally on views of it (as `ReparamModule`), `syn_steps` SGD steps on the
synthetic clouds are taken with `torch.autograd.grad(..., create_graph=True)` and a
learnable `syn_lr`, and `||theta_student - target||^2 / ||start - target||^2` is
`.backward()`ed to the clouds and `syn_lr`. Autograd keeps every step's activations and
those of its inner gradient alive until the backward pass. Network: DD3D's PointNet
(bdy9527/DD3D `networks.py`, as `dd3d_jax/models/pointnet.py`): 1x1 convs 3-64-128-1024,
each followed by InstanceNorm (ReLU after the first two), max over points, Linear
1024-K. Shapes as `benchmarks/tm_memory.py`: random clouds, every synthetic cloud in
every student step, the reference augmentation (scale, jitter, small rotation) drawn
per step, target = start + 0.01.

Each (CPC, syn_steps) runs in a fresh process with one thread. Reported: the process's
peak resident memory (`ru_maxrss`) after the update minus its peak after building the
network and the data, before the update (MiB), and the seconds of the update. This is
what a process really holds (allocator slack included), unlike `tm_memory.py`, which
reports XLA's compiled plan (a byte count, never run) of the same gradient in JAX,
stored or rematerialised. At 10 classes the update grows by about 55 MiB per student step
and CPC (measured: 0.5 GiB per step at CPC 10), so CPC 10 x 20 steps would take about
11 GiB and x 40 about 22 GiB: too much beside another job on a 24 GiB machine, and 4-8
minutes on one thread. CPC x syn_steps above 100 runs only with `--allow-large`.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

LARGE = 100  # CPC x syn_steps above this (CPC 10 x 10 steps) runs only with --allow-large


def max_rss_mib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(classes: int, cpc: int, points: int, steps: int, seed: int) -> dict:
  """One TM update in this process; see the module docstring."""
  import torch
  from torch import nn
  from torch.nn import functional as F

  torch.set_num_threads(1)
  torch.manual_seed(seed)

  class PointNet(nn.Module):
    def __init__(self, k: int):
      super().__init__()
      self.conv1, self.conv2 = nn.Conv1d(3, 64, 1), nn.Conv1d(64, 128, 1)
      self.conv3, self.network = nn.Conv1d(128, 1024, 1), nn.Linear(1024, k)

    def forward(self, x):                                        # [B, N, 3] -> [B, K]
      x = x.permute(0, 2, 1)
      x = F.relu(F.instance_norm(self.conv1(x)))
      x = F.relu(F.instance_norm(self.conv2(x)))
      return self.network(F.instance_norm(self.conv3(x)).amax(dim=2))

  net = PointNet(classes)
  names = [n for n, _ in net.named_parameters()]
  shapes = [p.shape for _, p in net.named_parameters()]
  sizes = [math.prod(s) for s in shapes]

  def student(x, flat):  # ReparamModule's forward(x, flat_param=...): views of one vector
    views = [v.view(s) for v, s in zip(flat.split(sizes), shapes)]
    return torch.func.functional_call(net, dict(zip(names, views)), (x,))

  def augment(x):  # scale U(0.8, 1.25), jitter N(0, 0.01) clipped 0.05, rotation N(0, 0.06)
    b = x.shape[0]
    x = x * torch.empty(b, 1, 1).uniform_(0.8, 1.25)
    x = x + (0.01 * torch.randn_like(x)).clamp(-0.05, 0.05)
    a = (0.06 * torch.randn(b, 3)).clamp(-0.18, 0.18)
    c, s, one, zero = a.cos(), a.sin(), torch.ones(b), torch.zeros(b)

    def mat(rows):
      return torch.stack([torch.stack(r, -1) for r in rows], -2)

    rx = mat([[one, zero, zero], [zero, c[:, 0], -s[:, 0]], [zero, s[:, 0], c[:, 0]]])
    ry = mat([[c[:, 1], zero, s[:, 1]], [zero, one, zero], [-s[:, 1], zero, c[:, 1]]])
    rz = mat([[c[:, 2], -s[:, 2], zero], [s[:, 2], c[:, 2], zero], [zero, zero, one]])
    return x @ (rz @ ry @ rx)

  start = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
  target = start + 0.01
  clouds = (torch.rand(classes * cpc, points, 3) * 2 - 1).requires_grad_(True)
  labels = torch.arange(classes).repeat_interleave(cpc)
  syn_lr = torch.tensor(1e-3, requires_grad=True)
  before = max_rss_mib()

  t0 = time.perf_counter()
  thetas = [start.clone().requires_grad_(True)]
  for _ in range(steps):  # batch_syn = every cloud: one chunk per step, in random order
    order = torch.randperm(len(clouds))
    ce = F.cross_entropy(student(augment(clouds[order]), thetas[-1]), labels[order])
    grad = torch.autograd.grad(ce, thetas[-1], create_graph=True)[0]
    thetas.append(thetas[-1] - syn_lr * grad)
  loss = (F.mse_loss(thetas[-1], target, reduction='sum')
          / F.mse_loss(start, target, reduction='sum'))
  loss.backward()
  seconds = time.perf_counter() - t0
  assert clouds.grad is not None and syn_lr.grad is not None
  return {'classes': classes, 'cpc': cpc, 'points': points, 'syn_steps': steps,
          'torch': torch.__version__, 'threads': torch.get_num_threads(),
          'params': sum(sizes), 'loss': round(loss.item(), 6),
          'peak_mib': round(max_rss_mib() - before, 1), 'base_mib': round(before, 1),
          'seconds': round(seconds, 2)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--classes', type=int, default=10)
  parser.add_argument('--cpc', type=int, nargs='+', default=[1, 10])
  parser.add_argument('--points', type=int, default=256)
  parser.add_argument('--steps', type=int, nargs='+', default=[5, 10, 20, 40])
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--allow-large', action='store_true',
                      help=f'also run CPC x syn_steps > {LARGE} (CPC 10: over 10 steps)')
  parser.add_argument('--json', action='store_true')
  parser.add_argument('--one', type=int, nargs=2, metavar=('CPC', 'STEPS'), help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one:  # the child: one configuration, one JSON line
    cpc, steps = args.one
    print(json.dumps(measure(args.classes, cpc, args.points, steps, args.seed)))
    return
  rows = []
  for cpc in args.cpc:
    for steps in args.steps:
      if cpc * steps > LARGE and not args.allow_large:
        gib = 0.0055 * args.classes * cpc * steps  # measured: 5.5 MiB per step and cloud
        print(f'skipped CPC {cpc} x {steps} steps (about {gib:.0f} GiB; --allow-large)',
              file=sys.stderr)
        continue
      out = subprocess.run(
          [sys.executable, __file__, '--one', str(cpc), str(steps), '--classes',
           str(args.classes), '--points', str(args.points), '--seed', str(args.seed)],
          check=True, capture_output=True, text=True).stdout
      rows.append(json.loads(out.strip().splitlines()[-1]))
  if args.json:
    print(json.dumps(rows))
    return
  if not rows:
    return
  r = rows[0]
  print(f'torch {r["torch"]} CPU, {r["threads"]} thread, {args.classes} classes x '
        f'{args.points} points, one TM update (peak RSS over the process before it, MiB)')
  print('| CPC | syn_steps | PyTorch peak MiB | MiB per added step | update s |')
  print('|---|---|---|---|---|')
  for prev, r in zip([None] + rows[:-1], rows):
    growth = ''  # against the previous row of the same CPC
    if prev and prev['cpc'] == r['cpc'] and prev['syn_steps'] < r['syn_steps']:
      growth = f'{(r["peak_mib"] - prev["peak_mib"]) / (r["syn_steps"] - prev["syn_steps"]):.1f}'
    print(f'| {r["cpc"]} | {r["syn_steps"]} | {r["peak_mib"]} | {growth} | {r["seconds"]} |')


if __name__ == '__main__':
  main()
