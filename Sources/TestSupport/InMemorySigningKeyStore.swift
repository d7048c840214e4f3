public import AuthorizationServer
public import Foundation
import Synchronization

/// The in-memory twin of the SQLite signing-key store: the same contract, for core tests and as the
/// reference the storage contract suite runs every backend against.
public final class InMemorySigningKeyStore: SigningKeyStore {
    private let records = Mutex<[SigningKeyRecord]>([])

    public init() {}

    public func signingKeys() async throws(StorageError) -> [SigningKeyRecord] {
        records.withLock { $0.sorted { ($0.createdAt, $0.kid) < ($1.createdAt, $1.kid) } }
    }

    public func insertSigningKey(_ record: SigningKeyRecord, audit: AuditEvent?) async throws(StorageError) {
        try records.withLock { (all: inout [SigningKeyRecord]) throws(StorageError) in
            try Self.checkInsert(record, into: all)
            all.append(record)
        }
    }

    public func rotateSigningKey(to newKey: SigningKeyRecord, at: Date, publishUntil: Date, audit: AuditEvent?) async throws(StorageError) {
        try records.withLock { (all: inout [SigningKeyRecord]) throws(StorageError) in
            var updated = all
            for index in updated.indices where updated[index].algorithm == newKey.algorithm && updated[index].retiredAt == nil {
                updated[index].retiredAt = at
                updated[index].publishUntil = publishUntil
            }
            try Self.checkInsert(newKey, into: updated)
            updated.append(newKey)
            all = updated
        }
    }

    private static func checkInsert(_ record: SigningKeyRecord, into all: [SigningKeyRecord]) throws(StorageError) {
        if all.contains(where: { $0.kid == record.kid }) { throw StorageError(.conflict, "kid \(record.kid) exists") }
        if record.retiredAt == nil, all.contains(where: { $0.algorithm == record.algorithm && $0.retiredAt == nil }) {
            throw StorageError(.conflict, "an active \(record.algorithm) key exists")
        }
    }
}
