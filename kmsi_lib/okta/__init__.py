"""The Okta client side: the only code of kmsi_lib that talks to Okta.

``protocol`` (pure: URLs, error decoding, Link and WWW-Authenticate parsing,
retry delays) ← ``auth``, ``journal``, ``governor`` ← ``client`` (OktaClient,
the only code that sends requests); ``bulk`` (many calls within the governor)
and ``resources/`` (thin functions per API area, naming ``OktaClient`` for type
checking only) import no other module of this package at run time. Nothing here
imports the engine, the procedures, the evidence or the runbooks
(tests/test_import_directions.py). The public names are
re-exported by :mod:`kmsi_lib` (``from kmsi_lib import OktaClient``).
"""
