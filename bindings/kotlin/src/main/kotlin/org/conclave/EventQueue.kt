// Hand-written companion of the generated bindings (same package): a Listener for apps without
// coroutines. With kotlinx.coroutines, use org.conclave.coroutines.FlowListener instead.
package org.conclave

import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/** A [Listener] that queues the session's events for the app's own thread. Thread-safe. */
class EventQueue : Listener {
    private val queue = LinkedBlockingQueue<MeetingEvent>()

    override fun onEvent(event: MeetingEvent) {
        queue.put(event)
    }

    /** The next event, waiting at most [timeoutMs] milliseconds; null if none came. */
    fun next(timeoutMs: Long = 0): MeetingEvent? = queue.poll(timeoutMs, TimeUnit.MILLISECONDS)

    /** Every queued event, oldest first. */
    fun drain(): List<MeetingEvent> = buildList { queue.drainTo(this) }
}
