"""Tasks: what the targets of a cloud are and how predictions are scored."""
