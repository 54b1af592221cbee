"""asyncio driver of a :class:`conclave.MeetingSession`: events as an async iterator, timers on
the event loop.

::

    session = conclave.AsyncMeetingSession.join(meeting_id, "bob", identity, send)
    relay.on_message(session.receive)      # every message from the relay
    async for event in session:            # until MeetingEvent.ENDED
        ...

``send(to, payload)`` hands bytes to the relay (``to`` is a :class:`conclave.Recipient`); it may
be a plain function or a coroutine function (each call is then scheduled as a task).
"""

import asyncio
import inspect
import threading
import typing

from . import _generated as _c  # the generated module (set by __init__)

Send = typing.Callable[[_c.Recipient, bytes], typing.Optional[typing.Awaitable[None]]]

#: Most events an :class:`AsyncMeetingSession` holds for its reader; when a new event finds the
#: buffer full, the oldest is dropped and counted in ``dropped_events`` (the engine's own event
#: queue follows the same rule at ``MAX_QUEUE``). Equal in the Kotlin ``FlowListener`` and the
#: Swift ``StreamListener``.
MAX_BUFFERED_EVENTS = 4096


class _Callbacks(_c.Transport, _c.Listener):
    """Forwards the session's callbacks to the event loop (from any thread)."""

    def __init__(self, owner: "AsyncMeetingSession", send: Send):
        self._owner = owner
        self._send = send

    def send(self, to, payload):
        result = self._send(to, payload)
        if inspect.isawaitable(result):
            self._owner._call_on_loop(asyncio.ensure_future, result)

    def on_event(self, event):
        self._owner._call_on_loop(self._owner._buffer_event, event)


class AsyncMeetingSession:
    """A :class:`conclave.MeetingSession` driven by an asyncio event loop.

    Create it with :meth:`create` or :meth:`join` inside a running loop. It ticks the session when
    the session asks to (``loop.call_later``), and ``async for event in session`` yields every
    :class:`conclave.MeetingEvent` until (and including) ``MeetingEvent.ENDED``. Events wait in a queue
    of at most :data:`MAX_BUFFERED_EVENTS` until read; beyond that the oldest are dropped and
    counted in :attr:`dropped_events`.

    :meth:`receive` may be called from any thread. The time is ``clock()`` (milliseconds of a
    monotonic clock, :func:`conclave.monotonic_now_ms` by default); use the same clock for
    :meth:`frame_crypto`'s ``now_ms``.
    """

    def __init__(self, factory, send: Send, clock: typing.Callable[[], int]):
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._events: "asyncio.Queue[_c.MeetingEvent]" = asyncio.Queue(MAX_BUFFERED_EVENTS)
        #: Events dropped because the reader fell :data:`MAX_BUFFERED_EVENTS` behind.
        self.dropped_events = 0
        self._clock = clock
        self._timer: typing.Optional[asyncio.TimerHandle] = None
        self._ended = False
        callbacks = _Callbacks(self, send)
        self.session: _c.MeetingSession = factory(callbacks, callbacks, clock())
        self._after(self.session.tick(clock()))

    @classmethod
    def create(cls, meeting_id: bytes, participant_id: str, identity: _c.Identity, send: Send,
               options: typing.Optional[_c.MeetingOptions] = None,
               clock: typing.Callable[[], int] = _c.monotonic_now_ms) -> "AsyncMeetingSession":
        """Creates a meeting led by this participant (see :meth:`conclave.Meeting.create`)."""
        return cls(lambda t, l, now: _c.MeetingSession.create(
            meeting_id, participant_id, identity, t, l, now, options), send, clock)

    @classmethod
    def join(cls, meeting_id: bytes, participant_id: str, identity: _c.Identity, send: Send,
             options: typing.Optional[_c.MeetingOptions] = None,
             clock: typing.Callable[[], int] = _c.monotonic_now_ms) -> "AsyncMeetingSession":
        """Joins a meeting (see :meth:`conclave.Meeting.join`)."""
        return cls(lambda t, l, now: _c.MeetingSession.join(
            meeting_id, participant_id, identity, t, l, now, options), send, clock)

    # ----- input -----

    def receive(self, message: bytes) -> None:
        """Handles a message from the relay. Raises ``ConclaveError`` if it was refused (the
        meeting is unchanged: log it and carry on)."""
        try:
            next_ms = self.session.receive(bytes(message), self._clock())
        except _c.ConclaveError:
            self._call_on_loop(self._reschedule)
            raise
        self._call_on_loop(self._after, next_ms)

    async def leave(self) -> None:
        """Leaves the meeting; iteration ends with ``MeetingEvent.ENDED``."""
        self.session.leave(self._clock())
        self._reschedule()

    def close(self) -> None:
        """Stops the timer (the session is dropped with this object)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ----- output -----

    def __aiter__(self) -> "AsyncMeetingSession":
        return self

    async def __anext__(self) -> _c.MeetingEvent:
        if self._ended and self._events.empty():
            raise StopAsyncIteration
        event = await self._events.get()
        if isinstance(event, _c.MeetingEvent.ENDED):
            self._ended = True
            self.close()
        return event

    # ----- accessors -----

    @property
    def meeting(self) -> _c.Meeting:
        """The meeting, for its accessors (``security_code()``, ``participants()``, ...)."""
        return self.session.meeting()

    def frame_crypto(self) -> _c.FrameCrypto:
        """The frame encryptor/decryptor, for media (thread-safe)."""
        return self.session.frame_crypto()

    # ----- timers -----

    def _call_on_loop(self, fn, *args) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _buffer_event(self, event: _c.MeetingEvent) -> None:
        """Queues ``event`` (on the loop's thread), dropping the oldest when the queue is full."""
        if self._events.full():
            self._events.get_nowait()
            self.dropped_events += 1
        self._events.put_nowait(event)

    def _reschedule(self) -> None:
        self._after(self.session.next_tick_ms())

    def _after(self, next_ms: typing.Optional[int]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if next_ms is None:
            return
        delay = max(0, next_ms - self._clock()) / 1000
        self._timer = self._loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # A failure here (an internal error: the session is unusable) goes to the loop's
        # exception handler and stops the timer.
        self._after(self.session.tick(self._clock()))
