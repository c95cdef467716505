"""Where a warning should point: the first frame outside this library (pricer, calibrator) and JAX, so a
warning raised deep inside a call names the user's line whatever the path that led to it."""
from __future__ import annotations

import sys

# dataclasses: a model rebuilt by dataclasses.replace inside the library (a stress scenario's market) warns
# from its __post_init__ through the replace frame
_LIBRARY_MODULES = ("pricer", "calibrator", "jax", "jaxlib", "dataclasses")


def _in_library(frame) -> bool:
    # by the frame's module, not its file: a dataclass's generated __init__ runs in its module's globals
    # but from a file named "<string>"
    module = frame.f_globals.get("__name__", "")
    return module.split(".", 1)[0] in _LIBRARY_MODULES


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the calling function: 1 is that function, each level
    above one frame further out, up to the first frame not in the library or JAX (inside ``jit`` and
    ``tree_map`` the user's line is several JAX frames out)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and _in_library(frame):
        frame = frame.f_back
        level += 1
    return level
