// Kotlin coroutines wrappers of MeetingSession: events as a Flow, timers in a coroutine.
// Needs kotlinx-coroutines-core >= 1.4 (Channel.trySend). scripts/test-bindings.sh compiles this
// file and runs its test (FlowTest.kt) against the kotlinx-coroutines-core-jvm jar that the Kotlin
// compiler package ships (1.8.0 with Kotlin 2.4.20), or CONCLAVE_KOTLINX_COROUTINES_JAR.
package org.conclave.coroutines

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.receiveAsFlow
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import org.conclave.Listener
import org.conclave.MeetingEvent
import org.conclave.MeetingSession
import org.conclave.monotonicNowMs

/**
 * Most events a [FlowListener] holds for its collector; when a new event finds the buffer full,
 * the oldest is dropped (the engine's own event queue follows the same rule). Equal in the
 * Python `AsyncMeetingSession` and the Swift `StreamListener`.
 */
const val MAX_BUFFERED_EVENTS: Int = 4096

/**
 * A [Listener] whose events are a cold-once [Flow] that completes after [MeetingEvent.Ended].
 * At most [MAX_BUFFERED_EVENTS] wait for the collector; beyond that the oldest are dropped.
 */
class FlowListener : Listener {
    private val channel = Channel<MeetingEvent>(MAX_BUFFERED_EVENTS, BufferOverflow.DROP_OLDEST)

    /** The session's events, oldest first; collect it once. */
    val events: Flow<MeetingEvent> = channel.receiveAsFlow()

    override fun onEvent(event: MeetingEvent) {
        channel.trySend(event)
        if (event is MeetingEvent.Ended) channel.close()
    }
}

/** Longest sleep between ticks, so that a deadline moved earlier by `receive` is not missed. */
const val MAX_TICK_WAIT_MS: Long = 250

/** Runs the session's timers in this scope until it ends (or the scope is cancelled). */
fun CoroutineScope.runTimers(session: MeetingSession, clock: () -> Long = ::monotonicNowMs): Job = launch {
    while (isActive) {
        val next = session.tick(clock()) ?: break
        delay((next - clock()).coerceIn(0, MAX_TICK_WAIT_MS))
    }
}
