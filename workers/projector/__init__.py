"""The projector (``python -m workers.projector``): the events topic into the Redis read models.

Nothing here imports ``projections`` or ``domain``: ``__main__`` first chooses the compiled
build of the folds (``workers/compiled.py``) or, loudly, the pure-Python ones; ``worker`` is
the projector itself.
"""
