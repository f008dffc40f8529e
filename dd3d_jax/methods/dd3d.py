"""`dd3d`: the class-modulated SIREN trained by gradient matching (Bo & Wang, ICML 2025).

Settings: the `distill` budget and `w0_initial`, `hidden`, `num_layers` of the
generator. It emits any resolution: distilled at `train_points`, exported at the
evaluation resolution.
"""

from __future__ import annotations

from dd3d_jax import generator as gen_lib
from dd3d_jax import synthetic
from dd3d_jax.methods._matching import MatchingMethod, make_distiller


def from_config(settings, context) -> MatchingMethod:
  module = gen_lib.ModulatedSiren(num_classes=context.dataset.num_classes, cpc=context.cpc,
                                  w0_initial=settings.w0_initial, hidden=settings.hidden,
                                  num_layers=settings.num_layers)
  return MatchingMethod(make_distiller(settings, context, synthetic.SirenSet(module)))
