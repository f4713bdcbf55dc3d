"""Plain numpy/Python oracles written straight from the specs (``../shared/specs``).

They are what the tests compare every fast path with and the baselines the benchmarks measure
against. Readability wins over speed here. Names end in ``_ref``.
"""
from spotkern.reference.time_shift_encoding import time_shift_encoding_ref

__all__ = ["time_shift_encoding_ref"]
