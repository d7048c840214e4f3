import Synchronization

/// Whether spans are made at all: set once at start-up when `tracing_otlp_endpoint` is configured. Off, every
/// traced step checks this one flag and runs its work directly, without a span, a context or an allocation.
public enum TracingSwitch {
    private static let enabled = Atomic<Bool>(false)

    public static var isOn: Bool { enabled.load(ordering: .relaxed) }

    /// Turns spans on (the daemon, once a tracer is bootstrapped) or off (tests).
    public static func set(_ on: Bool) { enabled.store(on, ordering: .relaxed) }
}
