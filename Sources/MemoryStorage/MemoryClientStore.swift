public import AuthorizationServer
import Foundation

/// `ClientStore` and `ResourceServerStore` in memory.
public struct MemoryClientStore: ClientStore, ResourceServerStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertClient(_ client: Client, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.clients[client.clientID] == nil else { throw StorageError(.conflict, "client \(client.clientID) exists") }
            state.clients[client.clientID] = client
            state.appendAudit(audit)
        }
    }

    public func client(id: String) async throws(StorageError) -> Client? {
        try database.read { $0.clients[id] }
    }

    public func clients() async throws(StorageError) -> [Client] {
        try database.read { state in state.clients.values.sorted { ($0.createdAt, $0.clientID) < ($1.createdAt, $1.clientID) } }
    }

    public func replaceClient(_ client: Client, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try database.write { state in
            guard state.clients[client.clientID] != nil else { return false }
            state.clients[client.clientID] = client
            state.appendAudit(audit)
            return true
        }
    }

    public func deleteClient(id: String, revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try database.write { state in
            guard state.clients.removeValue(forKey: id) != nil else { return false }
            // As the SQL schemas' ON DELETE CASCADE.
            state.registrations[id] = nil
            state.applyAll(revocations)
            state.appendAudit(audit)
            return true
        }
    }

    public func insertResourceServer(_ server: ResourceServer, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.resourceServers[server.id] == nil, !state.resourceServers.values.contains(where: { $0.name == server.name }) else {
                throw StorageError(.conflict, "resource server \(server.id) exists")
            }
            state.resourceServers[server.id] = server
            state.appendAudit(audit)
        }
    }

    public func resourceServers() async throws(StorageError) -> [ResourceServer] {
        try database.read { state in state.resourceServers.values.sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) } }
    }

    public func removeResourceServer(id: String, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try database.write { state in
            let matching = state.resourceServers.values.filter { $0.id == id || $0.name == id }.map(\.id)
            guard !matching.isEmpty else { return false }
            for key in matching { state.resourceServers[key] = nil }
            state.appendAudit(audit)
            return true
        }
    }
}
