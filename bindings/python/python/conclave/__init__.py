"""Conclave: end-to-end encryption for group video meetings (Python bindings of the Rust engine).

The generated uniffi module (``conclave.conclave``) is re-exported here, made safe and Pythonic
(``_pythonic``), plus an asyncio driver (``AsyncMeetingSession``, in ``conclave.aio``).
"""

from . import conclave as _generated
from ._pythonic import make_pythonic as _make_pythonic
from .conclave import *  # noqa: F401,F403 (the public API of the bindings)
from .conclave import __all__ as _generated_all

_make_pythonic(_generated)

from .aio import AsyncMeetingSession  # noqa: E402 (needs the patched classes)

__version__: str = _generated.library_version()
"""The version of the bindings (the Rust library's package version)."""

__all__ = [*_generated_all, "AsyncMeetingSession", "__version__"]
