"""``kmsi bench``: the library measured against the sandbox in another process.

Modules (each imports only those above it): :mod:`~kmsi_lib.bench.measure` (pure
arithmetic over the sandbox's request log), :mod:`~kmsi_lib.bench.server` (the
sandbox process and its admin calls), :mod:`~kmsi_lib.bench.worker` (one measured
library call in a fresh process), :mod:`~kmsi_lib.bench.scenarios` and
:mod:`~kmsi_lib.bench.cli` (the command). Importing the package loads none of them.
"""
