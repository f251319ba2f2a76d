"""Synthetic traffic for `photostream simulate` and `photostream demo`: not a benchmark.

workload     a power-law follow graph and a configurable mix of events, as event dicts
"""
