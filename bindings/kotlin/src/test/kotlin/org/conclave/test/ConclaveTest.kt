// A 3-person meeting through an in-memory relay, on the JVM. Run by scripts/test-bindings.sh:
// compiled with the generated bindings (kotlinc -Werror) and run with JNA; exits non-zero on
// any failure and prints "N passed, M failed".
package org.conclave.test

import org.conclave.CipherSuite
import org.conclave.ConclaveException
import org.conclave.kind
import org.conclave.Destination
import org.conclave.EventQueue
import org.conclave.Recipient
import org.conclave.MeetingSession
import org.conclave.Transport
import org.conclave.Identity
import org.conclave.MediaCodec
import org.conclave.Meeting
import org.conclave.MeetingEvent
import org.conclave.MeetingOptions
import org.conclave.RemovalReason
import org.conclave.SealExecutor
import org.conclave.SealTask
import org.conclave.defaultMeetingOptions
import org.conclave.mediaIsKeyframe
import org.conclave.monotonicNowMs
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.concurrent.thread
import kotlin.system.exitProcess

private val MEETING_ID = "kotlin-meeting-0001".toByteArray()

/** Routes messages between meetings; never decrypts anything. */
class Relay {
    var clockMs: Long = 0L
    val members = linkedMapOf<String, Meeting>()
    val events = mutableMapOf<String, MutableList<MeetingEvent>>()
    val rejections = mutableListOf<Pair<String, ConclaveException>>()
    private val queue = ArrayDeque<Triple<String, Destination, ByteArray>>()

    fun create(pid: String): Meeting = attach(pid, Meeting.create(MEETING_ID, pid, Identity.generate(), clockMs))

    fun join(pid: String): Meeting = attach(pid, Meeting.join(MEETING_ID, pid, Identity.generate(), clockMs))

    private fun attach(pid: String, m: Meeting): Meeting {
        members[pid] = m
        events[pid] = mutableListOf()
        collect(pid)
        return m
    }

    /** Stops routing to a participant that left or was removed; returns its meeting. */
    fun detach(pid: String): Meeting {
        collect(pid)
        return members.remove(pid)!!
    }

    fun collect(pid: String) {
        val m = members.getValue(pid)
        while (true) {
            val t = m.pollTransmit() ?: break
            queue.addLast(Triple(pid, t.destination, t.payload))
        }
        events.getValue(pid).addAll(m.pollEvents())
    }

    private fun leader(): String? = members.entries.firstOrNull { it.value.isLeader() }?.key

    private fun targets(sender: String, d: Destination): List<String> = when (d) {
        is Destination.Participant -> listOf(d.participantId)
        is Destination.Leader -> leader()?.takeIf { it != sender }?.let { listOf(it) }
            ?: members.keys.filter { it != sender }
        is Destination.All -> members.keys.filter { it != sender }
    }

    /** Runs the timers due at the current clock (e.g. the leader's batched commit). */
    private fun runDueTimers() {
        for (m in members.values) {
            val t = m.pollTimeoutMs()
            if (t != null && t <= clockMs) m.handleTimeout(clockMs)
        }
        members.keys.toList().forEach { collect(it) }
    }

    /** Delivers messages and runs due timers until nothing is in flight. */
    fun pump() {
        var n = 0
        runDueTimers()
        while (queue.isNotEmpty()) {
            while (queue.isNotEmpty()) {
                val (sender, dest, payload) = queue.removeFirst()
                for (to in targets(sender, dest)) {
                    val m = members[to] ?: continue
                    try {
                        m.handleMessage(payload, clockMs)
                    } catch (e: ConclaveException) {
                        rejections.add(to to e)
                    }
                    collect(to)
                }
                check(++n < 10_000) { "relay loop does not settle" }
            }
            runDueTimers()
        }
    }

    /** Moves the clock forward, running every timer that falls due on the way. */
    fun advance(ms: Long) {
        val end = clockMs + ms
        while (true) {
            val due = members.values.mapNotNull { it.pollTimeoutMs() }.filter { it <= end }
            clockMs = if (due.isEmpty()) end else maxOf(clockMs, due.min())
            pump()
            if (due.isEmpty()) return
        }
    }

    fun takeEvents(pid: String): List<MeetingEvent> {
        val ev = events.getValue(pid).toList()
        events.getValue(pid).clear()
        return ev
    }
}

fun check(cond: Boolean, msg: () -> String) {
    if (!cond) throw AssertionError(msg())
}

inline fun <reified E : Throwable> expectThrows(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing thrown")
}

fun threeInMeeting(): Relay {
    val r = Relay()
    r.create("alice")
    r.join("bob")
    r.join("carol")
    r.pump()
    // Senders move to the newest epoch after the switch-over delay (2 s by default).
    r.advance(3_000L)
    return r
}

fun codesAgree(r: Relay, pids: List<String>): String {
    val codes = pids.map { r.members.getValue(it).securityCode() }.toSet()
    check(codes.size == 1) { "security codes differ: $codes" }
    val code = codes.first()
    check(code != null && code.split(" ").size == 6) { "bad code $code" }
    return code!!
}

fun testJoinAndAgree() {
    val r = threeInMeeting()
    check(r.rejections.isEmpty()) { "rejections: ${r.rejections}" }
    for (pid in listOf("alice", "bob", "carol")) {
        val m = r.members.getValue(pid)
        check(m.isActive()) { "$pid not active" }
        check(m.participants().map { it.participantId } == listOf("alice", "bob", "carol")) { "roster of $pid" }
        check(r.takeEvents(pid).count { it is MeetingEvent.Joined } == 1) { "$pid joined once" }
    }
    check(r.members.getValue("alice").isLeader()) { "alice leads" }
    codesAgree(r, listOf("alice", "bob", "carol"))
}

fun testFramesBothWays() {
    val r = threeInMeeting()
    for (sender in listOf("alice", "bob", "carol")) {
        val plaintext = byteArrayOf(0x90.toByte()) + "hello from $sender".toByteArray()
        val frame = r.members.getValue(sender).frameCrypto().encrypt(1, plaintext, 1)
        for (receiver in listOf("alice", "bob", "carol").filter { it != sender }) {
            val d = r.members.getValue(receiver).frameCrypto().decrypt(frame, r.clockMs)
            check(d.plaintext.contentEquals(plaintext)) { "plaintext $sender -> $receiver" }
            check(d.sender == r.members.getValue(sender).ownLeaf()) { "sender leaf" }
            check(d.stream == 1 && d.prefixLen == 1) { "stream/prefix" }
        }
    }
}

fun testTamperedAndReplayed() {
    val r = threeInMeeting()
    val alice = r.members.getValue("alice").frameCrypto()
    val bob = r.members.getValue("bob").frameCrypto()
    val frame = alice.encrypt(0, "audio".toByteArray(), 0)
    val bad = frame.copyOf().also { it[it.size - 1] = (it[it.size - 1].toInt() xor 1).toByte() }
    val e = expectThrows<ConclaveException.Tampered> { bob.decrypt(bad, r.clockMs) }
    check(e.sender == r.members.getValue("alice").ownLeaf() && e.stream == 0) { "tampered fields: ${e.message}" }
    check(e.toString().contains("does not authenticate")) { "message: $e" }
    check(e.kind == "tampered") { "kind: ${e.kind}" }
    val asBase: ConclaveException = e
    check(asBase.kind == "tampered") { "kind on the base type: ${asBase.kind}" }
    check(bob.decrypt(frame, r.clockMs).plaintext.contentEquals("audio".toByteArray())) { "genuine frame" }
    check(expectThrows<ConclaveException.Replayed> { bob.decrypt(frame, r.clockMs) }.kind == "replayed")
    val diag = bob.diagnostics().first { it.sender == r.members.getValue("alice").ownLeaf() }
    check(diag.decrypted == 1L && diag.tampered == 1L && diag.replayed == 1L) { "diagnostics $diag" }
}

fun testLeaveRemoveRekey() {
    val r = threeInMeeting()
    val start = r.members.getValue("alice").epoch()
    val before = codesAgree(r, listOf("alice", "bob", "carol"))
    r.members.keys.forEach { r.takeEvents(it) }
    val bobFc = r.members.getValue("bob").frameCrypto()

    r.members.getValue("bob").leave(r.clockMs)
    val bob = r.detach("bob") // the relay stops routing to Bob once he has left
    r.pump()
    check(bob.isEnded()) { "bob ended" }
    val ended = r.takeEvents("bob").filterIsInstance<MeetingEvent.Ended>()
    check(ended.single().reason == RemovalReason.LEFT) { "bob ended: $ended" }
    for (pid in listOf("alice", "carol")) {
        val ev = r.takeEvents(pid)
        val removed = ev.filterIsInstance<MeetingEvent.ParticipantRemoved>()
        check(removed.map { it.participantId to it.reason } == listOf("bob" to RemovalReason.LEFT)) { "$pid: $removed" }
        check(ev.any { it is MeetingEvent.EpochChanged }) { "$pid rekeyed" }
    }
    check(r.members.getValue("alice").epoch() == start + 1L) { "epoch after leave" }
    check(codesAgree(r, listOf("alice", "carol")) != before) { "code changed" }
    bob.close()

    r.advance(3_000L)
    val frame = r.members.getValue("alice").frameCrypto().encrypt(0, "after".toByteArray(), 0)
    val d = r.members.getValue("carol").frameCrypto().decrypt(frame, r.clockMs)
    check(d.epoch == start + 1L) { "new epoch frame" }
    expectThrows<ConclaveException.NoKeys> { bobFc.decrypt(frame, r.clockMs) }

    expectThrows<ConclaveException.NotLeader> { r.members.getValue("carol").remove("alice", r.clockMs) }
    val carolFc = r.members.getValue("carol").frameCrypto()
    r.members.getValue("alice").remove("carol", r.clockMs)
    r.pump()
    val carolEnded = r.takeEvents("carol").filterIsInstance<MeetingEvent.Ended>()
    check(carolEnded.single().reason == RemovalReason.REMOVED) { "carol removed: $carolEnded" }
    val carol = r.detach("carol")
    expectThrows<ConclaveException.NotInMeeting> { carol.leave(r.clockMs) }
    r.advance(3_000L)
    val secret = r.members.getValue("alice").frameCrypto().encrypt(0, "carol is out".toByteArray(), 0)
    expectThrows<ConclaveException.NoKeys> { carolFc.decrypt(secret, r.clockMs) }
    check(r.members.getValue("alice").participants().map { it.participantId } == listOf("alice")) { "alone" }
    // The relay kept routing to Carol until it detached her: she refused those messages.
    check(r.rejections.all { it.first == "carol" && it.second is ConclaveException.NotInMeeting }) {
        "rejections: ${r.rejections}"
    }
}

fun testRotationWhileMediaRuns() {
    val r = threeInMeeting()
    val alice = r.members.getValue("alice").frameCrypto()
    val bob = r.members.getValue("bob").frameCrypto()
    val failure = AtomicReference<Throwable?>(null)
    val count = AtomicInteger(0)
    val late = AtomicInteger(0)
    val stop = AtomicBoolean(false)
    val payload = ByteArray(1200) { it.toByte() }
    val t = thread {
        try {
            while (!stop.get()) {
                val f = alice.encrypt(2, payload, 0)
                try {
                    check(bob.decrypt(f, r.clockMs).plaintext.contentEquals(payload)) { "media round trip" }
                    count.incrementAndGet()
                } catch (e: ConclaveException.TooOld) {
                    // Descheduled between encrypt and decrypt while the virtual clock jumped over
                    // two rotations: the frame is legitimately too late.
                    late.incrementAndGet()
                }
            }
        } catch (e: Throwable) {
            failure.set(e)
        }
    }
    val start = r.members.getValue("alice").epoch()
    repeat(3) {
        r.members.getValue("alice").rotate(r.clockMs)
        r.pump()
        r.advance(2_500L)
    }
    stop.set(true)
    t.join()
    failure.get()?.let { throw AssertionError("media thread failed: $it") }
    check(count.get() > late.get()) { "media ran: ${count.get()} ok, ${late.get()} late" }
    val f = alice.encrypt(2, payload, 0)
    check(bob.decrypt(f, r.clockMs).epoch == r.members.getValue("alice").epoch()) { "newest epoch" }
    check(r.members.getValue("alice").epoch() == start + 3L) { "three rotations" }
    codesAgree(r, listOf("alice", "bob", "carol"))
}

fun testIdentityAndOptions() {
    val a = Identity.generate()
    val b = Identity.fromSecret(a.exportSecret())
    check(a.fingerprint() == b.fingerprint()) { "fingerprint survives keychain round trip" }
    check(a.publicKey().size == 65) { "public key length" }
    expectThrows<ConclaveException.InvalidArgument> { Identity.fromSecret(ByteArray(5)) }
    check(defaultMeetingOptions() == MeetingOptions()) { "record defaults equal engine defaults" }
    expectThrows<ConclaveException.InvalidArgument> {
        Meeting.create(MEETING_ID, "alice", a, 0L, MeetingOptions(maxParticipants = 0))
    }
    Meeting.create(MEETING_ID, "alice", a, monotonicNowMs(), MeetingOptions(rotationIntervalMs = null)).use { m ->
        check(m.epoch() == 1L) { "created at epoch 1" }
        check(m.cipherSuite() == CipherSuite.X_WING) { "post-quantum suite by default" }
    }
}

// A real H.264 access unit: one 64x64 IDR frame from x264 (Annex B: SPS, PPS, IDR slice).
val H264_IDR: ByteArray = (
    "000000016764000aacd94426c044000003000400000300f03c4896580000000168ef8fcb0000016588840031ffcb6c96" +
    "7ae8ffff0d83c0f029ea2db305879ecf47172faa397e380ce078ca8b4c3e00d0d067a65cea9fd66abfc57df23b581124" +
    "5a2d78f8433376960f78c8238b7a8a664ad3b1a0c674709bec10c415febe3c77193aa5b583c040b33d19df344d109af6" +
    "28cfc5800036c13cca515d3f0bbde4c0c44ab56ca5e364e3d98fd46adc6fe821f563434c1cb1863084d211d5b8ec7419" +
    "0c92bcd3c7999ad6f8f9f0e0ade3b336cc0b501209fd7ce39d747c377873d94c3b9c52165761565893e7662221efcc38" +
    "b5723105ba79f756e1a47b51e5c3060bb8e9a18c80566e3ab3152230b0c38117d286d4c6499a2fe955e9d8c11c5e1e61" +
    "4526753b6670cdf1635ff6d7d0d78f2979ae561e9c01ba4025bb58699f70f7a92648786139d86a56c01bd6d1bda887f2" +
    "1d9bcba85d9575296b7781fcfbc0be9fd38f22cb604bc406a294bec428824871e24e71de82d7c01261dfbfeee4d1e9d3" +
    "9cdd8d711cd65a7e3affce19495af170048c6d8be7c26524b09cd3d8ded901aa000dceed0dbb07d455c406ccf7867936" +
    "b5d907e37b581de99fc1dbd293df561a09d6e7fc24105448f8a516c659a5e339ea941071c26fcf117933c765734a5632" +
    "476b59bea0bd01bcc0d3794b61abc58f8bfdff0be089e1c8cb70283a5c533b6e843aad444edc256e7c43e5410b95fec0" +
    "5b5a1701771758c4f543c1"
).chunked(2).map { it.toInt(16).toByte() }.toByteArray()

fun testH264CodecApi() {
    val r = threeInMeeting()
    val alice = r.members.getValue("alice").frameCrypto()
    val bob = r.members.getValue("bob").frameCrypto()
    val frame = alice.encryptMedia(MediaCodec.H264, 1, H264_IDR)
    // Start codes, NAL headers and parameter sets stay in place; the slice data is encrypted.
    check(frame.copyOfRange(0, 31).contentEquals(H264_IDR.copyOfRange(0, 31))) { "clear header" }
    check(!frame.copyOfRange(40, H264_IDR.size).contentEquals(H264_IDR.copyOfRange(40, H264_IDR.size))) { "encrypted" }
    check(mediaIsKeyframe(MediaCodec.H264, frame)) { "keyframe visible on the encrypted frame" }
    val d = bob.decryptMedia(MediaCodec.H264, frame, r.clockMs)
    // The canonical form (spec/frames.md 6.4): x264's 3-byte start code before the slice (at
    // byte 36) comes back as 00 00 00 01, as RTP depayloaders write it.
    val canonical = H264_IDR.copyOfRange(0, 36) + byteArrayOf(0) + H264_IDR.copyOfRange(36, H264_IDR.size)
    check(d.plaintext.contentEquals(canonical)) { "round trip in canonical form" }
    check(d.sender == r.members.getValue("alice").ownLeaf()) { "sender" }
    // A fresh frame with a clear SPS byte flipped: authenticated.
    val bad = alice.encryptMedia(MediaCodec.H264, 1, H264_IDR).also { it[10] = (it[10].toInt() xor 1).toByte() }
    expectThrows<ConclaveException.Tampered> { bob.decryptMedia(MediaCodec.H264, bad, r.clockMs) }
    expectThrows<ConclaveException.InvalidArgument> {
        alice.encryptMedia(MediaCodec.H264, 1, "not annex b".toByteArray())
    }
}

/** Queues what sessions send; `run` delivers it (to one participant or all the others). */
class SessionNet {
    val sessions = linkedMapOf<String, MeetingSession>()
    val queues = mutableMapOf<String, EventQueue>()
    val sent = mutableListOf<Recipient>()
    private val inFlight = java.util.concurrent.ConcurrentLinkedQueue<Triple<String, Recipient, ByteArray>>()

    fun add(pid: String, leader: Boolean) {
        val port = object : Transport {
            override fun send(to: Recipient, payload: ByteArray) {
                inFlight.add(Triple(pid, to, payload))
            }
        }
        val q = EventQueue()
        val id = Identity.generate()
        sessions[pid] = if (leader) MeetingSession.create(MEETING_ID, pid, id, port, q, 0L)
        else MeetingSession.join(MEETING_ID, pid, id, port, q, 0L)
        queues[pid] = q
    }

    fun run(now: Long) {
        sessions.values.forEach { it.tick(now) }
        while (true) {
            val (from, to, payload) = inFlight.poll() ?: return
            sent.add(to)
            val targets = if (to is Recipient.Participant) listOf(to.participantId) else sessions.keys.filter { it != from }
            for (pid in targets) {
                try { sessions[pid]?.receive(payload, now) } catch (_: ConclaveException) {}
            }
        }
    }
}

fun testSessionDriver() {
    val net = SessionNet()
    net.add("alice", true)
    net.add("bob", false)
    net.add("carol", false)
    net.run(0L)
    net.run(3_000L)
    val codes = net.sessions.values.map { it.meeting().securityCode() }.toSet()
    check(codes.size == 1 && codes.first() != null) { "one security code: $codes" }
    check(net.queues.getValue("bob").drain().any { it is MeetingEvent.Joined }) { "bob joined" }
    val suite = net.queues.getValue("alice").drain().filterIsInstance<MeetingEvent.SuiteChanged>()
    check(suite.all { it.suite == CipherSuite.X_WING }) { "suite events carry the CipherSuite: $suite" }
    net.sent.clear()
    net.sessions.getValue("carol").leave(3_001L)
    net.run(3_001L)
    check(Recipient.Participant("alice") in net.sent) { "leave routed to the leader by id: ${net.sent}" }
    check(net.queues.getValue("carol").drain().any { it is MeetingEvent.Ended }) { "carol ended" }
    val next = net.sessions.getValue("alice").tick(3_002L)
    check(next != null && next > 3_002L) { "tick tells when to call next: $next" }
    expectThrows<ConclaveException.InvalidArgument> { net.sessions.getValue("alice").tick(-1L) }
    net.sessions.values.forEach { it.close() }
}

/** Bob's rebuild after a handover seals on a thread pool the app provides. */
fun testSealExecutor() {
    val net = SessionNet()
    net.add("alice", true)
    net.add("bob", false)
    net.run(0L)
    net.add("carol", false)
    net.run(0L)
    net.run(3_000L)
    val pool = java.util.concurrent.Executors.newFixedThreadPool(2)
    val recipients = java.util.concurrent.ConcurrentLinkedQueue<String>()
    net.sessions.getValue("bob").setSealExecutor(object : SealExecutor {
        override fun execute(task: SealTask) {
            recipients.add(task.recipient())
            pool.submit { task.run() }
        }
    })
    net.sessions.getValue("alice").handOver("bob", 3_001L)
    net.run(3_001L)
    pool.shutdown()
    check(pool.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS)) { "seals finished" }
    check(recipients.sorted() == listOf("alice", "carol")) { "one task per other member: $recipients" }
    for (now in listOf(3_002L, 3_003L, 6_002L, 6_003L)) net.run(now)
    check(net.sessions.getValue("bob").meeting().isLeader()) { "bob leads" }
    val codes = net.sessions.values.map { it.meeting().securityCode() }.toSet()
    check(codes.size == 1 && codes.first() != null) { "one security code after the offloaded rebuild: $codes" }
    net.sessions.values.forEach { it.close() }
}

fun testClosedObjects() {
    val m = Meeting.create(MEETING_ID, "alice", Identity.generate(), 0L)
    m.use { check(it.epoch() == 1L) { "epoch" } }
    m.close() // a second close is harmless
    expectThrows<IllegalStateException> { m.epoch() }
}

/** The packed batch calls (layout in `ffi/src/frame_batch.rs`, little-endian): three frames
 *  encrypted in one call, decrypted in one call with the second tampered. The tampered frame
 *  fails alone, with the error `decrypt` raises; the others decrypt. */
fun testFrameBatch() {
    val r = threeInMeeting()
    val alice = r.members.getValue("alice").frameCrypto()
    val bob = r.members.getValue("bob").frameCrypto()
    val le = java.nio.ByteOrder.LITTLE_ENDIAN
    val payloads = listOf("one", "two", "three").map { it.toByteArray() }
    val enc = java.nio.ByteBuffer.allocateDirect(payloads.sumOf { 12 + it.size }).order(le)
    for (p in payloads) {
        enc.putInt(2).putInt(0).putInt(p.size).put(p)
    }
    enc.flip()
    val sealed = alice.encryptBatch(enc)
    check(sealed.failures.isEmpty()) { "encrypt failures ${sealed.failures}" }
    val out = java.nio.ByteBuffer.wrap(sealed.packed).order(le)
    val frames = payloads.map {
        check(out.get() == 0.toByte()) { "status" }
        ByteArray(out.getInt()).also { f -> out.get(f) }
    }
    check(!out.hasRemaining()) { "bytes after the last frame" }
    frames[1][frames[1].size - 1] = (frames[1].last().toInt() xor 1).toByte()
    val dec = java.nio.ByteBuffer.allocateDirect(frames.sumOf { 4 + it.size }).order(le)
    for (f in frames) {
        dec.putInt(f.size).put(f)
    }
    dec.flip()
    val opened = bob.decryptBatch(dec, r.clockMs)
    check(opened.failures.size == 1 && opened.failures[0].index == 1) { "failures ${opened.failures}" }
    check(opened.failures[0].error is ConclaveException.Tampered) { "error ${opened.failures[0].error}" }
    val o = java.nio.ByteBuffer.wrap(opened.packed).order(le)
    for ((i, p) in payloads.withIndex()) {
        val status = o.get()
        val sender = o.getInt()
        val stream = o.getInt()
        o.getLong() // epoch
        o.getLong() // counter
        o.getInt() // prefix_len
        val plaintext = ByteArray(o.getInt()).also { o.get(it) }
        if (i == 1) {
            check(status == 1.toByte() && plaintext.isEmpty()) { "failed entry" }
        } else {
            check(status == 0.toByte() && plaintext.contentEquals(p)) { "frame $i" }
            check(stream == 2 && sender == r.members.getValue("alice").ownLeaf()) { "fields of $i" }
        }
    }
    val diag = bob.diagnostics().first { it.sender == r.members.getValue("alice").ownLeaf() }
    check(diag.decrypted == 2L && diag.tampered == 1L) { "diagnostics $diag" }
}

fun main() {
    val tests = listOf(
        "join and agree" to ::testJoinAndAgree,
        "frames both ways" to ::testFramesBothWays,
        "tampered and replayed" to ::testTamperedAndReplayed,
        "frame batch" to ::testFrameBatch,
        "leave, remove, rekey" to ::testLeaveRemoveRekey,
        "rotation while media runs" to ::testRotationWhileMediaRuns,
        "identity and options" to ::testIdentityAndOptions,
        "h264 codec api" to ::testH264CodecApi,
        "session driver" to ::testSessionDriver,
        "seal executor" to ::testSealExecutor,
        "closed objects" to ::testClosedObjects,
    )
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        try {
            test()
            passed++
            println("PASS $name")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: $e")
            e.printStackTrace()
        }
    }
    println("$passed passed, $failed failed")
    if (failed != 0) exitProcess(1)
}
