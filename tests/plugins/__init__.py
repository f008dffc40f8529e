"""Plug-ins that live outside the package, named by their dotted module paths: a third
task and an objective, each one module, that the tests run through `main`, the runner and
`tables` with no other change (`tests/test_plugins.py`)."""
