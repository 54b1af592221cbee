"""The asyncio driver's event buffer is bounded: a reader that falls behind loses the oldest
events (counted), never the newest, and the process does not grow without limit."""

import asyncio

import conclave
from conclave import aio

MEETING_ID = b"aio-test-meeting-0001"


def test_event_buffer_is_bounded_and_keeps_the_newest():
    async def run():
        session = conclave.AsyncMeetingSession.create(
            MEETING_ID, "alice", conclave.Identity.generate(), lambda to, payload: None
        )
        extra = 10
        total = aio.MAX_BUFFERED_EVENTS + extra
        for epoch in range(total):
            session._buffer_event(conclave.MeetingEvent.SEND_EPOCH(epoch=epoch))
        # The session's own first events (if any) were the oldest: dropped first.
        assert session._events.qsize() == aio.MAX_BUFFERED_EVENTS
        assert session.dropped_events >= extra
        newest = None
        while not session._events.empty():
            newest = session._events.get_nowait()
        assert newest == conclave.MeetingEvent.SEND_EPOCH(epoch=total - 1)
        session.close()

    asyncio.run(run())
