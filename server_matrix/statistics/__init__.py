"""Statistics: what the samples say, as data.

Seeded bootstrap intervals and ratios (``uncertainty.py``), each cell's estimates and flags, cells
grouped by server, the verdicts (fastest servers, ties, gil=0 / gil=1, closed-loop bounds) and the
changes between two runs. Pure: results in, figures out. Imports ``planning`` and ``measuring``.
"""
