public import AuthorizationServer

/// Authorization codes and refresh tokens in memory.
public struct MemoryCodeStore: AuthorizationCodeStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertCode(_ code: AuthorizationCodeRecord, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.codes[code.codeHash] == nil else { throw StorageError(.conflict, "code exists") }
            state.codes[code.codeHash] = StoredCode(record: code)
            state.appendAudit(audit)
        }
    }

    public func updateCode<R: Sendable>(
        hash: [UInt8], _ transition: @escaping @Sendable (StoredCode) -> StoredTransition<StoredCode, R>
    ) async throws(StorageError) -> R? {
        try database.write { state in
            guard let stored = state.codes[hash] else { return nil }
            let step = transition(stored)
            if let next = step.updated {
                state.codes[hash]?.usedAt = next.usedAt
                state.codes[hash]?.reusedAt = next.reusedAt
            }
            state.applyAll(step.revocations)
            state.appendAudit(step.audit)
            return step.result
        }
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.refreshTokens[token.tokenHash] == nil else { throw StorageError(.conflict, "refresh token exists") }
            state.refreshTokens[token.tokenHash] = token.asStored(
                codeReused: state.codeReused(token.codeHash), grantRevoked: state.grantWithdrawn(token.grantID, at: token.issuedAt))
        }
    }

    public func refreshToken(hash: [UInt8]) async throws(StorageError) -> RefreshTokenRecord? {
        try database.read { $0.refreshTokens[hash] }
    }

    public func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try database.write { $0.revoke(revocations, audit: audit) }
    }
}
