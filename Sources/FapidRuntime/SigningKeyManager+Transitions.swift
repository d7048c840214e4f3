public import AuthorizationServer
public import Foundation
import JOSE

extension SigningKeyManager {
    /// Writes an audit event for every key whose state time has changed since the last one recorded for it
    /// (`recordedState`): `key.activated`, `key.retiring`, `key.removed` (and `key.staged` for a `next` key no
    /// event named yet). The store notes each state once across every instance sharing the database, so two
    /// instances reaching the same second write one event. Returns the records this call noted, with their new state.
    @discardableResult
    public func recordTransitions(now: Date) async throws -> [(record: SigningKeyRecord, state: SigningKeyRecord.State)] {
        var noted: [(record: SigningKeyRecord, state: SigningKeyRecord.State)] = []
        for record in try await store.signingKeys() {
            let state = record.state(at: now)
            // Forward only: an instance whose clock is behind does not even try to record an earlier state.
            guard state.order > (record.recordedState?.order ?? -1) else { continue }
            let event = AuditEvent(Self.auditKind(state), at: now, user: OperatingSystemUser.name, reason: Self.transitionReason(record, state))
            if try await store.recordSigningKeyState(kid: record.kid, state: state, audit: event) { noted.append((record, state)) }
        }
        return noted
    }

    static func auditKind(_ state: SigningKeyRecord.State) -> AuditEvent.Kind {
        switch state {
        case .next: .keyStaged
        case .active: .keyActivated
        case .retiring: .keyRetiring
        case .removed: .keyRemoved
        }
    }

    /// Names the key, where it lives and the times that brought the state; never key material.
    static func transitionReason(_ record: SigningKeyRecord, _ state: SigningKeyRecord.State) -> String {
        let key = "\(record.algorithm.rawValue) key \(record.kid) (\(record.location.rawValue))"
        switch state {
        case .next: return "\(key) published; active from \(record.activeFrom.formatted(.iso8601))"
        case .active: return "\(key) signs from \(record.activeFrom.formatted(.iso8601))"
        case .retiring:
            let until = record.publishUntil.map { $0.formatted(.iso8601) } ?? "-"
            guard let retiredAt = record.retiredAt, retiredAt > record.activeFrom else {
                return "\(key) replaced before it signed; published until \(until)"
            }
            return "\(key) stopped signing at \(retiredAt.formatted(.iso8601)); published until \(until)"
        case .removed: return "\(key) no longer published"
        }
    }
}
