// Hand-written companion of the generated Conclave.swift (not compiled on the project's Linux
// machines: no Swift compiler; it uses only the generated cases).

public extension ConclaveError {
    /// The stable kind (`"bad_signature"`, `"stale_epoch"`, `"tampered"`, `"invalid_argument"`,
    /// ...): the engine's name for what happened, for logs, metrics and programs, without
    /// matching on the case. `localizedDescription` is the human description.
    var kind: String {
        switch self {
        case let .Decode(kind, _): return kind
        case let .Rejected(kind, _): return kind
        case let .Tampered(kind, _, _, _): return kind
        case let .Replayed(kind, _, _, _, _): return kind
        case let .UnknownEpoch(kind, _, _): return kind
        case let .TooOld(kind, _, _, _, _): return kind
        case let .NoKeys(kind, _): return kind
        case let .NotInMeeting(kind): return kind
        case let .NotLeader(kind, _): return kind
        case let .UnknownParticipant(kind, _): return kind
        case let .InvalidArgument(kind, _): return kind
        case let .Internal(kind, _): return kind
        }
    }
}
