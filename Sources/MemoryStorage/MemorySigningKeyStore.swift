public import AuthorizationServer
public import Foundation

/// `SigningKeyStore` in memory: one active key per algorithm, kids unique, as the SQL schemas enforce.
public struct MemorySigningKeyStore: SigningKeyStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func signingKeys() async throws(StorageError) -> [SigningKeyRecord] {
        try database.read { state in state.signingKeys.sorted { ($0.createdAt, $0.kid) < ($1.createdAt, $1.kid) } }
    }

    public func insertSigningKey(_ record: SigningKeyRecord, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            try Self.checkInsert(record, into: state.signingKeys)
            state.signingKeys.append(record)
            state.appendAudit(audit)
        }
    }

    public func rotateSigningKey(to newKey: SigningKeyRecord, at: Date, publishUntil: Date, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            for index in state.signingKeys.indices
            where state.signingKeys[index].algorithm == newKey.algorithm && (state.signingKeys[index].retiredAt.map { $0 > at } ?? true) {
                state.signingKeys[index].retiredAt = at
                state.signingKeys[index].publishUntil = publishUntil
            }
            try Self.checkInsert(newKey, into: state.signingKeys)
            state.signingKeys.append(newKey)
            state.appendAudit(audit)
        }
    }

    public func recordSigningKeyState(kid: String, state: SigningKeyRecord.State, audit: AuditEvent) async throws(StorageError) -> Bool {
        try database.write { (all: inout MemoryState) throws(StorageError) -> Bool in
            guard let index = all.signingKeys.firstIndex(where: { $0.kid == kid }),
                all.signingKeys[index].recordedState.map({ $0.order < state.order }) ?? true
            else { return false }
            all.signingKeys[index].recordedState = state
            all.appendAudit(audit)
            return true
        }
    }

    private static func checkInsert(_ record: SigningKeyRecord, into all: [SigningKeyRecord]) throws(StorageError) {
        if all.contains(where: { $0.kid == record.kid }) { throw StorageError(.conflict, "kid \(record.kid) exists") }
        if record.retiredAt == nil, all.contains(where: { $0.algorithm == record.algorithm && $0.retiredAt == nil }) {
            throw StorageError(.conflict, "an active \(record.algorithm) key exists")
        }
    }
}
