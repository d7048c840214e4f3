import AuthorizationServer
import CertificateStatus
import Foundation
import Synchronization

/// One in-memory "database" shared by the memory stores, as one SQL database is shared by a backend's
/// stores: every operation is one transaction under a lock, so concurrent callers see atomic changes, and
/// a change that fails leaves nothing behind (it works on a copy).
public final class MemoryDatabase: Sendable {
    private let state = Mutex(MemoryState())

    public init() {}

    /// One transaction: `body` changes a copy of the state, which replaces it only when `body` returns.
    func write<T>(_ body: (inout MemoryState) throws(StorageError) -> T) throws(StorageError) -> T {
        try state.withLock { (state: inout MemoryState) throws(StorageError) -> T in
            var copy = state
            let result = try body(&copy)
            state = copy
            return result
        }
    }

    func read<T>(_ body: (MemoryState) throws(StorageError) -> T) throws(StorageError) -> T {
        try state.withLock { (state: inout MemoryState) throws(StorageError) -> T in try body(state) }
    }
}

/// The rows of every aggregate, keyed as the SQL schemas key them.
struct MemoryState {
    struct CIBARow {
        var request: CIBARequest
        var notifiedAt: Date?
        var claimedUntil: Date?
    }

    struct PushedRow {
        var pushed: PushedRequest
        var usedAt: Date?
    }

    struct JTIKey: Hashable {
        var clientID: String
        var jti: String
    }

    struct SignInCounter {
        var failures: Int
        var windowEnds: Date
    }

    var clients: [String: Client] = [:]
    var resourceServers: [String: ResourceServer] = [:]
    var registrations: [String: RegistrationRecord] = [:]
    var users: [String: User] = [:]
    var accessTokens: [[UInt8]: AccessTokenRecord] = [:]
    var jtis: [JTIKey: Date] = [:]
    var codes: [[UInt8]: StoredCode] = [:]
    var refreshTokens: [[UInt8]: RefreshTokenRecord] = [:]
    var pushed: [[UInt8]: PushedRow] = [:]
    var ciba: [String: CIBARow] = [:]
    var signingKeys: [SigningKeyRecord] = []
    var statuses: [String: PersistedStatus] = [:]
    var auditRows: [AuditChain.Row] = []
    var checkpoints: [Int64: AuditCheckpointRecord] = [:]
    var interactions: [[UInt8]: PSUInteraction] = [:]
    var sessions: [[UInt8]: PSUSession] = [:]
    var signInCounters: [[UInt8]: SignInCounter] = [:]
    var consents: [String: Consent] = [:]

    /// Chains `event` to the last row with `AuditChain.hash`, as the SQL backends do at their head.
    mutating func appendAudit(_ event: AuditEvent?) {
        guard let event else { return }
        let previous = auditRows.last
        let seq = (previous?.seq ?? 0) + 1
        let previousHash = previous?.hash ?? AuditChain.genesis
        let values = AuditChain.values(of: event)
        let hash = AuditChain.hash(seq: seq, values: values, previousHash: previousHash)
        auditRows.append(AuditChain.Row(seq: seq, values: values, previousHash: previousHash, hash: hash))
    }
}

/// Times compared as the SQL backends store them: whole seconds.
extension Date {
    var storedSeconds: Int64 { StoredTime.seconds(self) }
}
