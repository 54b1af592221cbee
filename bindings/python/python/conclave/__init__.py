"""Conclave: end-to-end encryption for group video meetings (Python bindings of the Rust engine).

The generated uniffi module (``conclave.conclave``) is re-exported here, made safe and Pythonic
(``_pythonic``), with many-frame methods on ``FrameCrypto`` (``_batch``), plus an asyncio driver
(``AsyncMeetingSession``, in ``conclave.aio``).
"""

try:  # wheel built by maturin: conclave/conclave/conclave.py (with the library beside it)
    from .conclave import conclave as _generated
except ImportError:  # scripts/test-bindings.sh: conclave/conclave.py
    from . import conclave as _generated
from ._pythonic import make_pythonic as _make_pythonic
from ._batch import install as _install_batch

_generated_all = list(_generated.__all__)
globals().update({name: getattr(_generated, name) for name in _generated_all})
_make_pythonic(_generated)
_install_batch(_generated)  # FrameCrypto.encrypt_many / decrypt_many

from .aio import AsyncMeetingSession  # noqa: E402 (needs the patched classes)

import logging as _logging  # noqa: E402

_PY_LEVELS = {
    LogLevel.ERROR: _logging.ERROR,  # noqa: F405
    LogLevel.WARN: _logging.WARNING,  # noqa: F405
    LogLevel.INFO: _logging.INFO,  # noqa: F405
    LogLevel.DEBUG: _logging.DEBUG,  # noqa: F405
    LogLevel.TRACE: _logging.DEBUG,  # noqa: F405
}


class _PythonLogger(Logger):  # noqa: F405
    def __init__(self, logger: _logging.Logger):
        self._logger = logger

    def log(self, record):
        self._logger.log(_PY_LEVELS[record.level], "%s: %s", record.participant_id or "-",
                         record.message,
                         extra={"participant_id": record.participant_id, "kind": record.kind})


def use_python_logging(logger: "_logging.Logger | None" = None,
                       level: "LogLevel" = LogLevel.INFO) -> None:  # noqa: F405
    """Forwards the library's log records at ``level`` or above to ``logger`` (default
    ``logging.getLogger("conclave")``), keyed by participant id (``record.participant_id``); a
    rejected message's record also has ``record.kind`` (the error's stable kind)."""
    set_logger(_PythonLogger(logger or _logging.getLogger("conclave")), level)  # noqa: F405


class ThreadPoolSealExecutor(SealExecutor):  # noqa: F405
    """Runs a session's rebuild seals on a :class:`concurrent.futures.Executor`::

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count())
        session.set_seal_executor(conclave.ThreadPoolSealExecutor(pool))

    Each :class:`SealTask` seals, signs and sends one Welcome in native code, which releases the
    GIL, so the seals of a failover run in parallel. A task that fails is logged to
    ``logging.getLogger("conclave")`` (the member resyncs, as after a lost Welcome).
    """

    def __init__(self, executor):
        self._executor = executor

    def execute(self, task):
        self._executor.submit(_run_seal_task, task)


def _run_seal_task(task) -> None:
    try:
        task.run()
    except ConclaveError as e:  # noqa: F405
        _logging.getLogger("conclave").warning("rebuild seal for %s failed: %s",
                                               task.recipient(), e)


__version__: str = _generated.library_version()
"""The version of the bindings (the Rust library's package version)."""

__all__ = [*_generated_all, "AsyncMeetingSession", "ThreadPoolSealExecutor", "use_python_logging",
           "__version__"]
