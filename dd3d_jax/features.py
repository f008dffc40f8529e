"""The feature network of herding and k-center: `methods.Context.embeddings`.

    features_fn(config, network, task, dataset, cache, mesh) -> features
    features(epochs) -> [N_train, F] float32

The global features (`network.embed`) of every training cloud under a network trained
on the whole training split by the evaluation protocol (`evaluate.Protocol.from_config`)
for `epochs` epochs, from the key stream 'features' (`dd3d_jax.keys`). Trained once per
workdir: kept with its test scores in features/e<epochs>.npz, which results.json reports.
"""

from __future__ import annotations

import logging
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dd3d_jax import evaluate, training
from dd3d_jax import tasks as tasks_lib
from dd3d_jax.keys import stream

log = logging.getLogger('dd3d_jax')


def features_fn(config: ml_collections.ConfigDict, network, task, dataset, cache, mesh=None):
  """`features(epochs) -> [N_train, F]`: the global features of every training cloud
  under a network trained on the whole split by the evaluation protocol for `epochs`
  epochs (None: eval.epochs), trained once per workdir and kept by `cache` (`Workdir.cache`)
  in features/; data parallel over `mesh`."""
  memo = {}

  def train(epochs: int) -> dict:
    t0 = time.time()
    log.info('features: training a network on all %d training clouds for %d epochs.',
             len(dataset.train), epochs)
    evaluator = evaluate.Evaluator(network, task, evaluate.Protocol.from_config(config, epochs),
                                   dataset.test, mesh)
    train = dataset.train
    variables, result = evaluator.train(train.points, train.labels, task.targets(train),
                                        stream(config.seed, 'features', epochs))
    embed = jax.jit(lambda x: training.map_batches(
        lambda b: network.embed(variables, b), x, config.eval.test_batch, mesh))
    feats = np.asarray(embed(jnp.asarray(train.points)), np.float32)
    headline = tasks_lib.module(task.name).SCORES[0]
    scores = {k: result[f'{k}_{headline}'] for k in ('final', 'best')}
    log.info('features: that network reaches %.2f%% test %s (best epoch %.2f%%), %.0fs.',
             scores['final'], tasks_lib.label(task.name, headline), scores['best'],
             time.time() - t0)
    return {'features': feats, **{f'{k}_{headline}': v for k, v in scores.items()},
            'seconds': time.time() - t0}

  def features(epochs: int | None) -> np.ndarray:
    epochs = epochs or config.eval.epochs
    if epochs not in memo:
      memo[epochs] = cache(os.path.join('features', f'e{epochs}.npz'),
                           lambda: train(epochs))['features']
    return memo[epochs]

  return features
