package org.conclave

/**
 * The stable kind of any [ConclaveException] (`"bad_signature"`, `"stale_epoch"`, `"tampered"`,
 * `"invalid_argument"`, ...): the engine's name for what happened, for logs, metrics and
 * programs, without matching on the subclass (each subclass has it as its own `kind` field);
 * `message` is the human description.
 */
val ConclaveException.kind: String
    get() = when (this) {
        is ConclaveException.Decode -> kind
        is ConclaveException.Rejected -> kind
        is ConclaveException.Tampered -> kind
        is ConclaveException.Replayed -> kind
        is ConclaveException.UnknownEpoch -> kind
        is ConclaveException.TooOld -> kind
        is ConclaveException.NoKeys -> kind
        is ConclaveException.NotInMeeting -> kind
        is ConclaveException.NotLeader -> kind
        is ConclaveException.UnknownParticipant -> kind
        is ConclaveException.InvalidArgument -> kind
        is ConclaveException.Internal -> kind
    }
