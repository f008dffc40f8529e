"""dd3d_jax: DD3D point-cloud dataset distillation (Bo & Wang, ICML 2025) in JAX/Flax.

Modules: `geometry` (normalisation, SO(3), PCA, augmentation), `rotator` (sign
canonicalisation), `generator` (modulated SIREN), `models` (PointNets),
`matching` (gradient distances and the GM loss), `convert` (authors' checkpoints).
"""

__version__ = '0.1.0'
