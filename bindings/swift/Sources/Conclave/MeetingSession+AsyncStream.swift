// Hand-written companion of the generated Conclave.swift: a MeetingSession whose events are an
// AsyncStream and whose timers run in a Task. Not compiled on the project's Linux machines (no
// Swift compiler); it uses only the generated API, whose C ABI the test script checks.
import Foundation

/// Most events a `StreamListener` holds for its reader; when a new event finds the buffer full,
/// the oldest is dropped (the engine's own event queue follows the same rule). Equal in the
/// Kotlin `FlowListener` and the Python `AsyncMeetingSession`.
public let maxBufferedEvents = 4096

/// A `Listener` that turns the session's events into an `AsyncStream` (finished after `.ended`).
/// At most `maxBufferedEvents` wait for the reader; beyond that the oldest are dropped.
public final class StreamListener: Listener, @unchecked Sendable {
    /// The events, oldest first; iterate it once.
    public let events: AsyncStream<MeetingEvent>
    private let continuation: AsyncStream<MeetingEvent>.Continuation

    public init() {
        var c: AsyncStream<MeetingEvent>.Continuation!
        events = AsyncStream(bufferingPolicy: .bufferingNewest(maxBufferedEvents)) { c = $0 }
        continuation = c
    }

    public func onEvent(event: MeetingEvent) throws {
        continuation.yield(event)
        if case .ended = event { continuation.finish() }
    }
}

/// Longest sleep between ticks, so that a deadline moved earlier by `receive` is not missed.
public let maxTickWaitMs: Int64 = 250

public extension MeetingSession {
    /// Runs the session's timers until it ends or the task is cancelled; `clock` gives the same
    /// monotonic milliseconds as every other call (default `monotonicNowMs()`).
    @discardableResult
    func runTimers(clock: @escaping @Sendable () -> Int64 = { monotonicNowMs() }) -> Task<Void, Error> {
        Task { [self] in
            while !Task.isCancelled {
                guard let next = try self.tick(nowMs: clock()) else { return }
                let wait = min(max(next - clock(), 0), maxTickWaitMs)
                try await Task.sleep(nanoseconds: UInt64(wait) * 1_000_000)
            }
        }
    }
}
