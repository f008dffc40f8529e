"""Shape classification's scores against hand-computed cases, and run files older than
mean class accuracy still summarised and tabled."""

import numpy as np
import pytest

from dd3d_jax import evaluate
from dd3d_jax.data import Split
from dd3d_jax.tasks.classification import Classification, mean_class_accuracy


def test_mean_class_accuracy_weighs_classes_alike():
  labels = np.array([0, 0, 0, 0, 1, 2])        # class 0 has most clouds
  predictions = np.array([0, 0, 0, 0, 0, 0])   # right on class 0 only
  assert mean_class_accuracy(predictions, labels) == pytest.approx(100 / 3)
  split = Split(np.zeros((6, 4, 3), np.float32), labels)
  scores = Classification(3).score(predictions, split)
  assert scores['oa'] == pytest.approx(100 * 4 / 6) and scores['macc'] == pytest.approx(100 / 3)
  # A class absent from the test split does not count.
  assert mean_class_accuracy(np.array([1, 1]), np.array([1, 1])) == 100.0


def test_summaries_leave_out_a_score_older_runs_lack():
  old = {'final_oa': 50.0, 'best_oa': 60.0}
  new = {'final_oa': 70.0, 'best_oa': 80.0, 'final_macc': 65.0, 'best_macc': 75.0}
  summary = evaluate.summarize([new, old])
  assert summary['final_oa_mean'] == 60.0 and 'final_macc_mean' not in summary
  assert evaluate.summarize([new, new])['final_macc_mean'] == 65.0
