// Hand-written companion of the generated Conclave.swift: a MeetingSession whose events are an
// AsyncStream and whose timers run in a Task. Not compiled on the project's Linux machines (no
// Swift compiler); it uses only the generated API, whose C ABI the test script checks.
import Foundation

/// A `Listener` that turns the session's events into an `AsyncStream` (finished after `.ended`).
public final class StreamListener: Listener, @unchecked Sendable {
    /// The events, oldest first; iterate it once.
    public let events: AsyncStream<MeetingEvent>
    private let continuation: AsyncStream<MeetingEvent>.Continuation

    public init() {
        var c: AsyncStream<MeetingEvent>.Continuation!
        events = AsyncStream(bufferingPolicy: .unbounded) { c = $0 }
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
