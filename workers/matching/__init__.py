"""The matching worker (``python -m workers.matching``): see :mod:`workers.matching.worker`.

Nothing here imports ``domain``: ``__main__`` first chooses the compiled engine build (or the
pure-Python one) and only then imports the worker.
"""
