"""The runbook side: what notebooks, ``kmsi run``, ``kmsi demo`` and ``kmsi lab`` use.

``contract`` (the runner <-> notebook contract, pure constants that import
nothing; the evidence imports it too) and ``display`` ← ``forms`` ←
``runbook`` (the notebook-side driver); ``contract`` ← ``params`` (parameter
files) ← ``run`` (``kmsi run``) ← ``demo`` (``kmsi demo``); ``lab`` (``kmsi
lab``). This package
imports nothing on import, so that importing ``kmsi_lib.runbooks.contract``
stays cheap.
"""
