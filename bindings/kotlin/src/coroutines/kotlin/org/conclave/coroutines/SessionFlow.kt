// Kotlin coroutines wrappers of MeetingSession: events as a Flow, timers in a coroutine.
// Needs kotlinx-coroutines-core >= 1.4 (Channel.trySend). scripts/test-bindings.sh compiles this
// file when such a jar is given in CONCLAVE_KOTLINX_COROUTINES_JAR (none is installable on the
// project's machines: Debian ships 1.0.1, without Flow).
package org.conclave.coroutines

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
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

/** A [Listener] whose events are a cold-once [Flow] that completes after [MeetingEvent.Ended]. */
class FlowListener : Listener {
    private val channel = Channel<MeetingEvent>(Channel.UNLIMITED)

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
