"""The reliability suite (issue #14): faults injected into a served portal on a private PostgreSQL cluster.

Run with `.venv/bin/pytest chaos -p no:cacheprovider -s`; `make test` does not collect it (its
testpaths are `tests/`). See `chaos/conftest.py` for what it starts and how it ends it.
"""
