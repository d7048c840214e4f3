public import AuthorizationServer
import Foundation
import JOSE
import PostgresNIO

/// `ClientStore` and `ResourceServerStore` over the `clients` and `resource_servers` tables on PostgreSQL.
public struct PostgresClientStore: ClientStore, ResourceServerStore {
    let database: PostgresDatabase
    private let parsed = ParsedClients()

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func insertClient(_ client: Client, audit: AuditEvent?) async throws(StorageError) {
        let json = JSON.object(client.metadata).serialized()
        try await database.transaction { tx in
            try await tx.execute(
                "INSERT INTO clients (client_id, metadata, created_at) VALUES (\(client.clientID), \(json), \(StoredTime.seconds(client.createdAt)))")
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func client(id: String) async throws(StorageError) -> Client? {
        let rows = try await database.map("SELECT metadata, created_at FROM clients WHERE client_id = \(id)") { row in
            (try row.value(0, as: String.self), try row.value(1, as: Int64.self))
        }
        guard let (metadata, created) = rows.first else { return nil }
        if let cached = parsed.get(id, metadata: metadata) { return cached }
        let client = try Client(storedID: id, metadata: metadata, createdAt: created)
        parsed.set(id, metadata: metadata, client: client)
        return client
    }

    public func clients() async throws(StorageError) -> [Client] {
        let rows = try await database.map("SELECT client_id, metadata, created_at FROM clients ORDER BY created_at, client_id") { row in
            (try row.value(0, as: String.self), try row.value(1, as: String.self), try row.value(2, as: Int64.self))
        }
        var clients: [Client] = []
        for (id, metadata, created) in rows { clients.append(try Client(storedID: id, metadata: metadata, createdAt: created)) }
        return clients
    }

    public func replaceClient(_ client: Client, audit: AuditEvent?) async throws(StorageError) -> Bool {
        let json = JSON.object(client.metadata).serialized()
        return try await database.transaction { tx in
            let updated = try await tx.rows("UPDATE clients SET metadata = \(json) WHERE client_id = \(client.clientID) RETURNING 1")
            guard !updated.isEmpty else { return false }
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }

    public func deleteClient(id: String, revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.transaction { tx in
            guard try await !tx.rows("DELETE FROM clients WHERE client_id = \(id) RETURNING 1").isEmpty else { return false }
            try await PostgresTokenRows.applyAll(revocations, tx)
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }

    public func insertResourceServer(_ server: ResourceServer, audit: AuditEvent?) async throws(StorageError) {
        try await database.transaction { tx in
            try await tx.execute(
                """
                INSERT INTO resource_servers (id, name, subject_dn, created_at, introspection_signed_response_alg)
                VALUES (\(server.id), \(server.name), \(server.subjectDN), \(StoredTime.seconds(server.createdAt)),
                        \(server.introspectionSignedResponseAlg.rawValue))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func resourceServers() async throws(StorageError) -> [ResourceServer] {
        try await database.map(
            "SELECT id, name, subject_dn, created_at, introspection_signed_response_alg FROM resource_servers ORDER BY created_at, name"
        ) { row in
            let id: String = try row.value(0)
            return ResourceServer(
                id: id, name: try row.value(1), subjectDN: try row.value(2), createdAt: try row.date(3),
                introspectionSignedResponseAlg: try ResourceServer.storedAlgorithm(try row.value(4), id: id))
        }
    }

    public func removeResourceServer(id: String, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.transaction { tx in
            guard try await !tx.rows("DELETE FROM resource_servers WHERE id = \(id) OR name = \(id) RETURNING 1").isEmpty else { return false }
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }
}
