"""spotkern: fast, exact kernels for temporal action spotting (CALF, dense detection anchors,
SoccerNet average-mAP).

Every op takes numpy arrays (and returns numpy) or torch tensors (and returns tensors on the same
device). Per-video arrays are time-major ``(T, C)``, batches ``(B, T, C)``.
"""
from spotkern._ext import EXT_ERROR  # noqa: F401  (warns at import when the extension is missing)
from spotkern._version import __version__  # noqa: F401  (the single version, pyproject.toml reads its module)
from spotkern.ops import *  # noqa: F401,F403
from spotkern.ops import __all__ as _ops_all

__all__ = list(_ops_all)
