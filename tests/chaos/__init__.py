"""The chaos suite: kill every process of the running test stack under load, lose nothing.

``load`` drives traders through the command API and records every acknowledged write;
``faults`` SIGKILLs each program in turn and restarts Redis, Kafka and MariaDB through the
stack's supervisord; ``verify`` checks, once the system drained, that every acknowledged
order is in the store and the query API with a state its events justify, that no trade is
doubled, and runs ``exchange check invariants``, ``exchange replay verify`` and
``exchange rebuild all --verify`` as an operator would. ``run`` ties them together; the short
version is ``tests/chaos/test_chaos.py``, the full one ``python -m tests.chaos --full``.
"""
