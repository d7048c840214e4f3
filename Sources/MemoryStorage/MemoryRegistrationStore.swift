public import AuthorizationServer

/// `RegistrationStore` in memory: the client and its registration change together.
public struct MemoryRegistrationStore: RegistrationStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertRegistration(_ client: Client, _ record: RegistrationRecord, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.clients[client.clientID] == nil, state.registrations[record.clientID] == nil else {
                throw StorageError(.conflict, "client \(client.clientID) exists")
            }
            guard record.clientID == client.clientID else { throw StorageError(.conflict, "registration of another client") }
            state.clients[client.clientID] = client
            state.registrations[record.clientID] = record
            state.appendAudit(audit)
        }
    }

    public func registration(clientID: String) async throws(StorageError) -> RegistrationRecord? {
        try database.read { $0.registrations[clientID] }
    }

    public func updateRegistration(
        _ client: Client, _ record: RegistrationRecord, previousTokenHash: [UInt8], audit: AuditEvent?
    ) async throws(StorageError) -> Bool {
        try database.write { state in
            // The token is rotated only by the request that still holds the current one.
            guard state.registrations[client.clientID]?.accessTokenHash == previousTokenHash else { return false }
            state.registrations[client.clientID]?.accessTokenHash = record.accessTokenHash
            state.clients[client.clientID] = client
            state.appendAudit(audit)
            return true
        }
    }
}
