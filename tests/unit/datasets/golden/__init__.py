"""Golden outputs of the dataset build, produced by the code path before the streaming rewrite (issue 14).

``python -m tests.unit.datasets.golden.make OUT.json`` (run with the pre-rewrite ``include/`` on
``PYTHONPATH``) wrote ``expected.json``: per case, the SHA-256 of every dataset file and the full stats.
"""
