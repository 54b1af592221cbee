// The Kotlin/JVM API called from Java: compiled with javac against the test jar and run by
// scripts/test-bindings.sh. Signed integers keep the Java names plain (no mangled
// `encrypt-Mv_zs3U`); exceptions are ConclaveException subclasses.
package org.conclave.test;

import org.conclave.ConclaveException;
import org.conclave.ErrorKindKt;
import org.conclave.ConclaveKt;
import org.conclave.DecryptedFrame;
import org.conclave.EventQueue;
import org.conclave.FrameCrypto;
import org.conclave.Identity;
import org.conclave.Meeting;
import org.conclave.MeetingSession;
import org.conclave.Recipient;
import org.conclave.Transport;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

public final class JavaCaller {
    private static final byte[] MEETING_ID = "java-meeting-id-0001".getBytes(StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        List<byte[]> sent = new ArrayList<>();
        Transport transport = new Transport() {
            @Override
            public void send(Recipient to, byte[] payload) {
                sent.add(payload);
            }
        };
        long now = ConclaveKt.monotonicNowMs();
        try (MeetingSession s = MeetingSession.Companion.create(
                MEETING_ID, "alice", Identity.Companion.generate(), transport, new EventQueue(), now, null)) {
            Long next = s.tick(now);
            require(next != null && next > now, "tick returns the next deadline");
            require(!sent.isEmpty(), "the creating commit was sent");
            Meeting m = s.meeting();
            require(m.epoch() == 1L && m.ownLeaf() == 0, "epoch 1, leaf 0");
            FrameCrypto f = s.frameCrypto();
            byte[] frame = f.encrypt(0, "hi".getBytes(StandardCharsets.UTF_8), 0);
            require(frame.length > 2, "encrypted");
            try {
                DecryptedFrame d = f.decrypt(frame, now);
                throw new AssertionError("own frame accepted: " + d);
            } catch (ConclaveException.Rejected e) {
                require(e.getMessage() != null, "own frame rejected with a message");
                require(e.getKind().equals("own_frame"), "stable kind: " + e.getKind());
            }
            try {
                m.remove("nobody", now);
                throw new AssertionError("removed nobody");
            } catch (ConclaveException.UnknownParticipant e) {
                require(e.getParticipantId().equals("nobody"), "field getter");
                require(ErrorKindKt.getKind(e).equals("unknown_participant"), "kind on the base type");
            }
        }
        System.out.println("java: 1 passed, 0 failed");
    }

    private static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }
}
