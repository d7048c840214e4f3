public import Foundation
import Synchronization

/// Which of the server's signing keys failed their last probe signature, kept where `/healthz` reads it. Only keys in a
/// hardware token are probed (`SigningKeyHealthMonitor`): a file or sealed key cannot go away while the daemon runs, a
/// token can be unplugged, lose its network path or its session.
public final class KeyHealth: Sendable {
    /// Failing kids and why (for the log; `/healthz` names only the kid).
    private let failing = Mutex<[String: String]>([:])

    public init() {}

    /// Notes that `kid` cannot sign; true when it could until now.
    @discardableResult
    public func recordFailure(_ kid: String, reason: String) -> Bool {
        failing.withLock { $0.updateValue(reason, forKey: kid) == nil }
    }

    /// Notes that `kid` signs; true when it was failing.
    @discardableResult
    public func recordSuccess(_ kid: String) -> Bool {
        failing.withLock { $0.removeValue(forKey: kid) != nil }
    }

    /// Forgets every kid but `kids` (keys that were replaced or removed are no longer probed).
    public func keep(only kids: Set<String>) {
        failing.withLock { $0 = $0.filter { kids.contains($0.key) } }
    }

    /// The kids among `kids` whose last probe failed, sorted.
    public func failing(among kids: some Sequence<String>) -> [String] {
        let known = failing.withLock { $0 }
        return Set(kids).filter { known[$0] != nil }.sorted()
    }
}

extension KeyRing.Snapshot {
    /// The keys that sign at `now` or will: `active` and `next` records with their loaded signers.
    public func activeAndNext(at now: Date) -> [(record: SigningKeyRecord, signer: ServerSigner)] {
        candidates.values.flatMap { $0 }.filter { [.active, .next].contains($0.record.state(at: now)) }
    }
}
