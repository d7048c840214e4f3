public import AuthorizationServer
public import Foundation

/// Access tokens and assertion `jti`s in memory.
public struct MemoryTokenStore: TokenStore, ReplayStore, ExpiredRowSweeper {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertAccessToken(_ record: AccessTokenRecord, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.accessTokens[record.tokenHash] == nil else { throw StorageError(.conflict, "access token exists") }
            var origin = state.origin(record.originHash)
            origin.grantRevoked = state.grantWithdrawn(record.grantID, at: record.issuedAt)
            state.accessTokens[record.tokenHash] = record.asStored(clientExists: state.clients[record.clientID] != nil, origin: origin)
            state.appendAudit(audit)
        }
    }

    public func accessToken(hash: [UInt8]) async throws(StorageError) -> AccessTokenRecord? {
        try database.read { state in
            guard var record = state.accessTokens[hash] else { return nil }
            record.originHash = nil
            return record
        }
    }

    public func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try database.write { $0.revoke(revocations, audit: audit) }
    }

    public func consume(jti: String, clientID: String, expiresAt: Date, now: Date) async throws(StorageError) -> Bool {
        try database.write { state in
            let key = MemoryState.JTIKey(clientID: clientID, jti: jti)
            // An expired entry can be replaced: the assertion it belonged to can no longer be used anyway.
            if let recorded = state.jtis[key], recorded.storedSeconds >= now.storedSeconds { return false }
            state.jtis[key] = expiresAt
            return true
        }
    }

    public func deleteExpired(_ cutoffs: [ExpiryCutoff]) async throws(StorageError) -> Int {
        try database.write { $0.deleteExpired(cutoffs) }
    }
}
