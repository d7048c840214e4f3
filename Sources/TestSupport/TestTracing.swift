import FapidTracing
import Foundation
public import InMemoryTracing
import Tracing

/// An in-memory tracer for the tests of tracing, bootstrapped once for the test process, and one test at a time
/// with `TracingSwitch` set as it asks (the switch is process-wide; suites of other targets run in parallel).
public enum TestTracing {
    public static let tracer: InMemoryTracer = {
        // Random ids: the incrementing default ("span-2") can equal a caller id a test sets by hand, and then a span
        // of one test looks like the child of another's.
        let tracer = InMemoryTracer(idGenerator: .init(nextTraceID: { "trace-\(UUID().uuidString)" }, nextSpanID: { "span-\(UUID().uuidString)" }))
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()

    private static let turn = Turn()

    /// Runs `body` alone among the tracing tests, with spans made (`on`) or not; the switch is off afterwards.
    public static func run<T>(on: Bool, _ body: (InMemoryTracer) async throws -> T) async rethrows -> T {
        let tracer = Self.tracer
        await turn.acquire()
        TracingSwitch.set(on)
        defer {
            TracingSwitch.set(false)
            Task { await turn.release() }
        }
        return try await body(tracer)
    }
}

/// A lock held across suspension points: waiters queue in order.
actor Turn {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { held = false } else { waiters.removeFirst().resume() }
    }
}
