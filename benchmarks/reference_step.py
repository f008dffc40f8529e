"""The authors' DD3D iteration (bdy9527/DD3D, `gm_inr.py`) timed beside ours, in one run.

    pip install torch                                     # the CPU is enough
    DD3D_OFFICIAL_DIR=/path/to/DD3D python benchmarks/reference_step.py \
        --classes 40 --points 256 --iterations 2

The reference side is the body of `main` in `gm_inr.py` with its own modules
(`CINR.SirenNet`/`SirenWrapper`, `networks.PointNet`, `utils.match_loss`,
`utils.get_clouds`, `provider.normalize_data`): per outer step and class, a real batch
drawn from 1,024-point clouds, subsampled to `--points` and normalised, its gradient,
the synthetic clouds' gradient with `create_graph=True`, the matching loss; one Adam
step of the generator; then `inner_loop` SGD epochs on the regenerated set. Data are
random of the same shapes. `utils` imports `torchmetrics`, `accelerate` and network
classes that the released `networks.py` lacks (DGCNN, PointCNN); the timed code uses
none of them, so they are stubbed when absent. Then ours runs in a fresh process
(`benchmarks/step.py` with the same shapes and loops). The two alternate `--repeats`
times, because the speed of a shared machine drifts over minutes; each pair's ratio is
printed, then the median ratio: of an outer step and of a whole iteration (median
seconds after a first, discarded iteration).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import os
import subprocess
import sys
import time
import types

import numpy as np


def reference(args) -> dict:
  official = os.environ.get('DD3D_OFFICIAL_DIR')
  if not official or not os.path.isfile(os.path.join(official, 'gm_inr.py')):
    sys.exit('error: set DD3D_OFFICIAL_DIR to a checkout of bdy9527/DD3D.')
  here = os.path.dirname(os.path.abspath(__file__))  # its profile.py would shadow the stdlib's
  sys.path[:] = [official] + [q for q in sys.path if os.path.abspath(q or '.') != here]
  for name in ('torchmetrics', 'torchmetrics.functional', 'torchmetrics.functional.classification',
               'accelerate', 'tqdm'):
    try:
      __import__(name)
    except ImportError:
      stub = sys.modules.setdefault(name, types.ModuleType(name))
      stub.__spec__ = importlib.machinery.ModuleSpec(name, None)
      stub.multiclass_accuracy = stub.tqdm = stub.trange = None
  import torch
  from torch.optim.lr_scheduler import StepLR

  import networks
  import provider
  from CINR import SirenNet, SirenWrapper
  from networks import PointNet
  for name in ('DGCNN', 'PointCNN', 'PointNetSeg'):
    if not hasattr(networks, name):
      setattr(networks, name, None)
  from utils import TensorDataset, get_clouds, match_loss

  torch.manual_seed(0)
  np.random.seed(0)
  device = torch.device(getattr(args, 'device', 'cpu'))
  sync = torch.cuda.synchronize if device.type == 'cuda' else lambda: None
  k, cpc, n_train = args.classes, 1, args.points
  outer_loop, inner_loop = args.loops
  clouds_all = torch.rand(k * args.batch_real, 1024, 3) * 2 - 1
  indices_class = [list(range(c, k * args.batch_real, k)) for c in range(k)]
  syn_label = torch.tensor([[i] * cpc for i in range(k)], device=device).long().view(-1)
  siren = SirenNet(dim_in=1, dim_hidden=256, dim_out=3, num_layers=2, w0_initial=100.0,
                   final_activation=torch.nn.Tanh())
  wrapper = SirenWrapper(siren, k, cpc, 256, num_layers=2).to(device)
  optimizer = torch.optim.Adam(wrapper.parameters(), lr=1e-3, weight_decay=5e-4)
  criterion = torch.nn.CrossEntropyLoss().to(device)
  steps, iterations = [], []
  for _ in range(args.iterations + 1):
    t_it = time.perf_counter()
    net = PointNet(input_dim=3, output_dim=k).to(device)
    net_parameters = list(net.parameters())
    optimizer_net = torch.optim.SGD(net.parameters(), lr=1e-3)
    scheduler_net = StepLR(optimizer_net, step_size=max(1, outer_loop * inner_loop // 2),
                           gamma=0.1)
    for ol in range(outer_loop):
      t_step = time.perf_counter()
      net.train()
      dd_loss = torch.tensor(0.0, device=device)
      for c in range(k):
        cld_real = get_clouds(clouds_all, indices_class, c, args.batch_real)
        lab_real = torch.ones((cld_real.shape[0],), device=device, dtype=torch.long) * c
        ind = torch.randperm(1024)[:n_train]
        cld_real = torch.from_numpy(provider.normalize_data(cld_real[:, ind, :].numpy())).float()
        cld_real = cld_real.to(device)
        indices = torch.tensor(list(range(c * cpc, (c + 1) * cpc))).long().to(device)
        cld_syn = wrapper(torch.rand(len(indices), n_train, 1, device=device), indices)
        gw_real = torch.autograd.grad(criterion(net(cld_real), lab_real), net_parameters)
        gw_real = [g.detach().clone() for g in gw_real]
        gw_syn = torch.autograd.grad(criterion(net(cld_syn), syn_label[indices]), net_parameters,
                                     create_graph=True)
        dd_loss += match_loss(gw_syn, gw_real, 'ours')
      optimizer.zero_grad()
      dd_loss.backward()
      optimizer.step()
      sync()
      steps.append(time.perf_counter() - t_step)
      if ol == outer_loop - 1:
        break
      indices = torch.arange(syn_label.shape[0], device=device)
      syn = wrapper(torch.rand(len(indices), n_train, 1, device=device), indices).detach()
      syn = torch.tensor(provider.normalize_data(syn.cpu().numpy())).float().to(device)
      loader = torch.utils.data.DataLoader(TensorDataset(syn, syn_label), batch_size=256,
                                           shuffle=True)
      for _ in range(inner_loop):
        net.train()
        for data, label in loader:
          loss = criterion(net(data.float()), label.long())
          optimizer_net.zero_grad()
          loss.backward()
          optimizer_net.step()
        scheduler_net.step()
    sync()
    iterations.append(time.perf_counter() - t_it)
  return {'step_s': float(np.median(steps[outer_loop:])),
          'iteration_s': float(np.median(iterations[1:])), 'threads': torch.get_num_threads()}


def ours(args) -> dict:
  cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'step.py'),
         '--classes', str(args.classes), '--points', str(args.points), '--batch-real',
         str(args.batch_real), '--steps', '3', '--iterations', str(args.iterations), '--loops',
         *map(str, args.loops), '--json']
  out = subprocess.run(cmd, capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--classes', type=int, default=40)
  p.add_argument('--points', type=int, default=256)
  p.add_argument('--batch-real', type=int, default=32)
  p.add_argument('--iterations', type=int, default=2)
  p.add_argument('--loops', type=int, nargs=2, default=[10, 1], metavar=('OUTER', 'INNER'))
  p.add_argument('--device', default='cpu', help="the reference's torch device ('cuda')")
  p.add_argument('--repeats', type=int, default=3,
                 help='reference/ours pairs, run alternately; the ratios are per pair')
  args = p.parse_args()
  pairs = [(reference(args), ours(args)) for _ in range(args.repeats)]
  print(f'{args.classes} classes x {args.batch_real} real clouds x {args.points} points, CPC 1, '
        f'loops {args.loops[0]}/{args.loops[1]}; torch threads {pairs[0][0]["threads"]}; '
        f'{args.repeats} pairs, each the reference then ours')
  print('| pair | reference step s | ours step s | ratio | reference iteration s | '
        'ours iteration s | ratio |\n|---|---|---|---|---|---|---|')
  ratios = []
  for i, (ref, us) in enumerate(pairs):
    ratios.append((ref['step_s'] / us['step_s'], ref['iteration_s'] / us['iteration_s']))
    print(f'| {i + 1} | {ref["step_s"]:.2f} | {us["step_s"]:.2f} | {ratios[-1][0]:.2f}x | '
          f'{ref["iteration_s"]:.1f} | {us["iteration_s"]:.1f} | {ratios[-1][1]:.2f}x |')
  step_ratio, iteration_ratio = np.median(ratios, axis=0)
  print(f'| median | | | {step_ratio:.2f}x | | | {iteration_ratio:.2f}x |')


if __name__ == '__main__':
  main()
