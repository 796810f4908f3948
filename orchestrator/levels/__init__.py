"""Levels: shipped specs that check every visible device of this machine without a YAML of one's own
(``run --level quick``, ``-r 1``), as ``dcgmi diag -r 1..4`` does. ``catalog.py`` is the table of
levels and their steps, ``specs/`` the steps' fleet specs (also readable as ``configs/levels/``),
``compose.py`` the data each step runs: its spec, under the user's spec that starts ``level:``."""
