"""`herding` (Welling 2009): per class, greedily keep the running mean of the chosen
clouds' features closest to the class mean. Features: the 1,024-d global feature of a
PointNet trained on the whole training split (`embed_epochs`, cached per workdir)."""

from dd3d_jax.methods._selection import FEATURE_DEFAULTS, FEATURE_FIELDS, Selection, by_features
from dd3d_jax.ops import selection

DEFAULTS, FIELDS = FEATURE_DEFAULTS, FEATURE_FIELDS  # `embed_epochs`


def from_config(settings, context) -> Selection:
  return by_features(selection.herding, settings, context)
