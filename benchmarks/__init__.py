"""Benchmarks of minnet against a hand-written numpy loop, PyTorch and scikit-learn.

Run ``python benchmarks/run.py`` (see ``docs/performance.md``).
"""
