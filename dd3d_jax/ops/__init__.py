"""Point and set operations: pure, jitted, batched."""
