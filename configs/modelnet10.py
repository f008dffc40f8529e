"""Table 1 methods on ModelNet10 (official ModelNet40 h5 layout), PointNet, at a 2-core
CPU budget. One command per cell runs every method of the paper's Table 1 (random,
herding, k-center, GM, DM, TM, DD3D) and the full-data upper bound:

    python -m dd3d_jax.main --config=configs/modelnet10.py:cpc=1 \
        --config.data.path=data/modelnet10_hdf5_1024 --workdir=runs/mn10_cpc1
    python -m dd3d_jax.main --config=configs/modelnet10.py:cpc=10 \
        --config.data.path=data/modelnet10_hdf5_1024 --workdir=runs/mn10_cpc10
    python -m dd3d_jax.main --config=configs/modelnet10.py:cpc=1,rotated \
        --config.data.path=data/modelnet10_hdf5_1024 --workdir=runs/mn10_cpc1_rot
    python -m dd3d_jax.tables runs/mn10_cpc1 runs/mn10_cpc10      # the table

`data/modelnet10_hdf5_1024` is ModelNet10 in the official h5 layout, cut from the public
ModelNet40 download by docs/data.md#modelnet10-for-the-cpu-budget-runs (any folder in that
layout will do).

Pick methods with `--config.eval.methods=dd3d,random`; `:full` runs the upper bound alone;
`:dc` gives GM and DM DC's own optimiser settings; `:sadm_eval` evaluates every set with SADM's
recipe and network (`config.use_sadm_eval`; 500 epochs in batches of 8).

Beyond the paper (`:beyond`): SADM, 3DDP (`tddp`), TM and DD3D's init x objective variants
(`config.DD3D_VARIANTS`: dd3d_real, dd3d_dm, dd3d_real_dm, dd3d_sadm, dd3d_real_sadm) next to
the random coreset and DD3D, every distribution objective at DM's 400 updates:

    python -m dd3d_jax.main --config=configs/modelnet10.py:cpc=1,beyond \
        --config.data.path=data/modelnet10_hdf5_1024 --workdir=runs/mn10_cpc1_beyond \
        --config.methods.tm.experts_dir=runs/mn10_experts
    python -m dd3d_jax.tables runs/mn10_cpc1_beyond

Measured (docs/results.md, "Beyond the paper"): CPC 1, final-epoch OA over 2 x 2 runs: sadm 82.3,
dd3d_dm 81.4, dd3d_real_dm 81.0, dd3d_sadm 79.8, dd3d_real_sadm 78.3, dd3d_real 72.5 (dd3d
70.7, random 60.3); CPC 10, one run: sadm 87.4, dd3d_dm 87.0, dd3d_real_dm 86.7 (random
86.2), dd3d_real_sadm 86.0, dd3d_sadm 85.9, dd3d 83.5, dd3d_real 82.5, tm 62.3 (68.5 from start epochs [10,
20), `methods.tm.min_start_epoch`; 77.1 at CPC 1); `cpc=1,rotated,beyond`: dd3d_real_dm
68.8, dd3d_dm 68.7, tm 64.2, sadm 63.3, dd3d_real_sadm 62.3, dd3d_sadm 62.2, dd3d 52.5,
dd3d_real 49.7, random 41.1; `cpc=10,rotated,beyond`, one run: sadm 76.1, dd3d_dm 75.2,
random 74.7, dd3d_real 73.7, dd3d_real_dm 73.5, dd3d 73.3, dd3d_sadm 73.1, dd3d_real_sadm
71.8, tm 49.9. 3DDP (docs/results.md, "3DDP, and scores that compare fairly"; 2 x 2 runs):
`cpc=1,beyond` tddp 81.6 (mAcc 81.1, 7,840 numbers stored, 7.3 min) beside sadm 82.1,
dd3d_dm 81.8, dd3d 75.9, random 60.3 in the same cell; `cpc=1,rotated,beyond` tddp 61.7,
random 41.0; `cpc=1,rotated,beyond,sadm_eval` tddp 56.1, dd3d_dm 36.2, sadm 36.1, random 25.3,
dd3d 25.2; `cpc=10,beyond` (one run) tddp 89.1, random 86.2.

Table 3 (the same sets on the other backbones; batch 32, as the heavier networks do not
fit batch 256 in memory; each run file records its protocol), then its table:

    python -m dd3d_jax.main --config=configs/modelnet10.py:cpc=10 \
        --config.data.path=data/modelnet10_hdf5_1024 --workdir=runs/mn10_cpc10 \
        --config.eval.methods=dd3d,gm,dm --config.eval.batch_size=32 \
        --config.eval.backbones=pointnet2,dgcnn,pct,pointmlp,pointnext
    python -m dd3d_jax.tables runs/mn10_cpc10 --table 3
    # at the CPU budget of docs/results.md (in a copy of the workdir, so that the 200-epoch PointNet
    # runs stay): --config.eval.epochs=10 --config.eval.batch_size=8, backbones with pointnet
    # each backbone trained on the whole split (the upper bound per backbone):
    python -m dd3d_jax.main --config=configs/modelnet10.py:full \
        --config.data.path=data/modelnet10_hdf5_1024 --workdir=runs/mn10_backbones \
        --config.eval.batch_size=32 --config.eval.test_batch=32 \
        --config.eval.backbones=pointnet2,pointmlp,pointnext,pct,dgcnn

Table 3 at the CPU budget in one command (`:transfer`): the random coreset, GM, DM, DD3D and
the ingredients that might make a set train every network (`config.TRANSFER_VARIANTS`:
gm_aug, GM with DSA's siamese augmentation; gm_nets and dm_nets, matched under PointNet and
DGCNN in turn; dm_plain, DM without its augmentation; dm_drop, DM with point dropout too;
dm_layers, DM matching every stage's mean feature; dm_dense, DM at 1,024 points; and the
control random_sparse, the random coreset cut to 256 points),
each evaluated on the six networks
for ~130 steps (10 epochs in batches of 8 at CPC 10, 100 at CPC 1), densified to 1,024
points (`eval.densify`):

    python -m dd3d_jax.main --config=configs/modelnet10.py:cpc=10,transfer \
        --config.data.path=data/modelnet10_hdf5_1024 --workdir=runs/mn10_cpc10_transfer
    python -m dd3d_jax.tables runs/mn10_cpc10_transfer --table 3

Measured (docs/results.md, "Every set at the test resolution"; CPC 10, one run,
PointNet / PointNet++ / DGCNN / PCT / PointMLP-elite / PointNeXt-S): random 85.7 / 75.3 /
85.5 / 83.5 / 51.1 / 81.7, densified GM 86.3 / 36.6 / 75.1 / 82.4 / 37.9 / 79.6, densified DM
85.5 / 53.3 / 74.6 / 82.7 / 42.4 / 74.6, dm_dense 84.9 / 77.2 / 84.4 / 84.7 / 53.7 / 85.0,
random_sparse 84.6 / 42.4 / 77.0 / 82.9 / 33.9 / 79.0; dm_drop, dm_layers and dm_plain on
three of the networks; CPC 1 random 57.8 / 43.8 / 50.0 / 53.2 / 32.1 / 56.7, dm_dense 73.8 /
42.0 / 66.6 / 64.8 / 46.7 / 61.3; gm_aug, gm_nets, dm_nets not measured yet.

Budget (stated, not the paper's): 40 iterations at 256 training points instead of 400 at
1,024 (DD3D and GM: the authors' (outer, inner) loops, so 400 updates of the set); DM and TM
take 400 updates too (one per iteration); TM: 5 experts of 7 epochs, 10 student steps from
an epoch < 5 matched 2 epochs on, 32 synthetic clouds per student step (all of them at CPC
1); GM's, DM's and TM's tensors are 256-point clouds; herding and k-center rank the 1,024-d
features of a PointNet trained on all 3,991 clouds for 10 epochs; `full` trains for 10
epochs. At CPC 1, 2 distillations (runs differ a lot at this budget) x 2 evaluation seeds
for every method, at CPC 10 one of each; evaluation as the reference (1,024 points, 200
epochs, Adam + cosine) with a test pass every 50 epochs.
The authors' code at this budget (aligned, CPC 1): DD3D 71.0 +- 2.8 final-epoch OA
against a random coreset's 64.3 +- 0.6. Measured numbers: docs/results.md, "ModelNet10 at a CPU budget".
"""

from dd3d_jax.config import (DD3D_VARIANTS, TABLE1_METHODS, TRANSFER_VARIANTS,
                             add_dd3d_variants, add_transfer_variants, base_config, loops_for,
                             parse_variant, use_dc_settings, use_sadm_eval, use_table3_eval)

LOOPS = {False: {1: (10, 1), 10: (20, 1)},
         True: {1: (5, 5), 10: (20, 10)}}
BUDGET_EPOCHS = 10  # full-data training (the upper bound, herding/k-center features)


def get_config(arg=None):
  v = parse_variant(arg, {'cpc': int, 'rotated': bool, 'full': bool, 'dc': bool,
                          'sadm_eval': bool, 'beyond': bool, 'transfer': bool})
  c = base_config()
  c.data.format = 'modelnet40_h5'
  c.data.num_points = 1024
  c.data.rotated = v.get('rotated', False)
  c.distill.cpc = v.get('cpc', 1)
  c.distill.iterations = 40
  c.distill.train_points = 256
  c.distill.batch_real = 32
  c.methods.dd3d.w0_initial = 100.0
  c.distill.outer_loop, c.distill.inner_loop = loops_for(
      LOOPS[c.data.rotated], c.distill.cpc, 'configs/modelnet10.py')
  c.methods.dm.iterations = c.distill.iterations * c.distill.outer_loop
  c.methods.tm.update(iterations=c.methods.dm.iterations, syn_steps=10, max_start_epoch=5,
                      batch_syn=32)
  c.methods.herding.embed_epochs = c.methods.kcenter.embed_epochs = BUDGET_EPOCHS
  c.methods.full.eval_epochs = BUDGET_EPOCHS
  # CPC 1: 2 distillations x 2 evaluations (runs differ a lot at this budget);
  # CPC 10: 1 x 1 (a DD3D distillation takes 25 min, an evaluation 3 min on 2 cores).
  c.num_distills = c.eval.num_evals = 2 if c.distill.cpc == 1 else 1
  c.eval.test_every = 50
  c.eval.methods = TABLE1_METHODS
  if v.get('full', False):  # the upper bound alone: PointNet on the whole training split
    c.eval.methods = 'full'
    c.eval.num_evals = 1
  if v.get('beyond', False):
    add_dd3d_variants(c, updates=c.methods.dm.iterations)
    c.methods.sadm.iterations = c.methods.tddp.iterations = c.methods.dm.iterations
    c.methods.tddp.morphs = 16  # 3DDP's ModelNet10 storage rule (252 points at 1,024)
    c.eval.methods = ','.join(['random', 'dd3d', 'sadm', 'tddp', 'tm', *DD3D_VARIANTS])
  if v.get('transfer', False):  # Table 3 at the CPU budget, with the transfer variants
    add_transfer_variants(c)
    use_table3_eval(c, epochs=max(10, 100 // c.distill.cpc))  # ~130 steps at CPC 1 and 10
    c.eval.methods = ','.join(['random', 'gm', 'dm', 'dd3d', *TRANSFER_VARIANTS])
  if v.get('sadm_eval', False):
    use_sadm_eval(c)
  return use_dc_settings(c) if v.get('dc', False) else c
