"""Drop-in stand-ins for the functions a spotting project replaces when it adopts spotkern.

``spotkern.compat.sn_spotting`` mirrors SoccerNet's sn-spotting CALF code (``preprocessing.py``,
``loss.py``, ``metrics_visibility_fast.py``): same names, signatures, dtypes and results.
``spotkern.compat.spivak`` mirrors spivak's displacement application and flexible NMS. Where a peer
has a defect listed in the specs (calf.md 11), the stand-in does the right thing and says so in its
docstring; everything else is the peer's computation, exactly (tests/test_compat.py compares each
one with a plain re-implementation of the peer's loop, bench/bench_compat.py times them).
"""
from spotkern.compat import sn_spotting, spivak

__all__ = ["sn_spotting", "spivak"]
