"""The reliability counts the suite prints at its end (README, "Reliability").

Tests add to :data:`COUNTS`; ``tests/conftest.py`` prints them in the terminal
summary, so that every run of ``make test`` (and CI) shows the figures the
README states.
"""

from __future__ import annotations

from collections import Counter

#: e.g. ``COUNTS["fault matrix: scenarios"] += 1``
COUNTS: Counter[str] = Counter()
