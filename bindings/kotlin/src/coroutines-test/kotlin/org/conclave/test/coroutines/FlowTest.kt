// The coroutines wrappers (SessionFlow.kt) in use: two sessions whose events are Flows and whose
// timers run in coroutines, on the real monotonic clock, through a relay coroutine. Run by
// scripts/test-bindings.sh (main class org.conclave.test.coroutines.FlowTestKt).
package org.conclave.test.coroutines

import java.util.concurrent.ConcurrentHashMap
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.conclave.ConclaveException
import org.conclave.Identity
import org.conclave.MeetingEvent
import org.conclave.MeetingSession
import org.conclave.Recipient
import org.conclave.Transport
import org.conclave.coroutines.FlowListener
import org.conclave.coroutines.MAX_BUFFERED_EVENTS
import org.conclave.coroutines.runTimers
import org.conclave.monotonicNowMs

private val MEETING_ID = "flow-test-meeting-0001".toByteArray()

private fun check(cond: Boolean, msg: () -> String) {
    if (!cond) throw AssertionError(msg())
}

/** Alice creates, Bob joins; both agree, Bob leaves and his Flow completes with Ended. */
fun testSessionsAsFlows() = runBlocking {
    val scope = CoroutineScope(Dispatchers.Default)
    val wire = Channel<Triple<String, Recipient, ByteArray>>(Channel.UNLIMITED)
    val sessions = ConcurrentHashMap<String, MeetingSession>()
    fun port(from: String) = object : Transport {
        override fun send(to: Recipient, payload: ByteArray) {
            wire.trySend(Triple(from, to, payload))
        }
    }
    scope.launch {
        for ((from, to, payload) in wire) {
            val targets = if (to is Recipient.Participant) listOf(to.participantId) else sessions.keys.filter { it != from }
            for (pid in targets) {
                try { sessions[pid]?.receive(payload, monotonicNowMs()) } catch (_: ConclaveException) {}
            }
        }
    }
    val aliceEvents = FlowListener()
    val bobEvents = FlowListener()
    val now = monotonicNowMs()
    val alice = MeetingSession.create(MEETING_ID, "alice", Identity.generate(), port("alice"), aliceEvents, now)
    sessions["alice"] = alice
    val bob = MeetingSession.join(MEETING_ID, "bob", Identity.generate(), port("bob"), bobEvents, now)
    sessions["bob"] = bob
    scope.runTimers(alice)
    val bobTimers = scope.runTimers(bob)
    try {
        withTimeout(20_000) {
            val joined = bobEvents.events.first { it is MeetingEvent.Joined }
            check(joined is MeetingEvent.Joined) { "bob's first Joined: $joined" }
            check(aliceEvents.events.first { it is MeetingEvent.ParticipantAdded } is MeetingEvent.ParticipantAdded) { "alice saw bob" }
            while (alice.meeting().securityCode() == null ||
                alice.meeting().securityCode() != bob.meeting().securityCode()) delay(20)
        }
        bob.leave(monotonicNowMs())
        val rest = withTimeout(20_000) { bobEvents.events.toList() }
        check(rest.lastOrNull() is MeetingEvent.Ended) { "bob's Flow completes after Ended: $rest" }
        withTimeout(5_000) { bobTimers.join() }  // runTimers stops when the session has ended
    } finally {
        scope.cancel()
        wire.close()
        sessions.values.forEach { it.close() }
    }
}

/** A collector that falls behind loses the oldest events, never the newest. */
fun testBufferIsBounded() = runBlocking {
    val l = FlowListener()
    val total = MAX_BUFFERED_EVENTS + 10
    for (epoch in 0 until total) l.onEvent(MeetingEvent.SendEpoch(epoch.toLong()))
    val got = withTimeout(5_000) { l.events.take(MAX_BUFFERED_EVENTS).toList() }
    check(got.first() == MeetingEvent.SendEpoch(10L)) { "oldest kept: ${got.first()}" }
    check(got.last() == MeetingEvent.SendEpoch((total - 1).toLong())) { "newest kept: ${got.last()}" }
}

fun main() {
    val tests = listOf(
        "sessions as flows" to ::testSessionsAsFlows,
        "bounded event buffer" to ::testBufferIsBounded,
    )
    var failed = 0
    for ((name, test) in tests) {
        try {
            test()
            println("PASS $name")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: $e")
            e.printStackTrace()
        }
    }
    println("${tests.size - failed} passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
