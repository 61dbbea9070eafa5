"""The emulator's control plane: the ELB v3/v2 REST API over SQLite.

``api.Emulator`` dispatches each request: faults, signature, then ``routes`` -> ``handlers``
(wire in/out, one ``Resource`` row per kind) -> ``models`` (resources and invariants over
``store``), answering in ``wire`` envelopes; ``admin`` serves ``/_emulator/``; ``feed``
hands the data plane what it must serve, in ``data.contract`` terms only.
"""
