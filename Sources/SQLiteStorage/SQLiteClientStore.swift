public import AuthorizationServer
import Foundation
import GRDB
import JOSE

/// `ClientStore` and `ResourceServerStore` over the `clients` and `resource_servers` tables.
public struct SQLiteClientStore: ClientStore, ResourceServerStore {
    let database: SQLiteDatabase
    /// Parsed clients by id, reused while the stored metadata text is unchanged: every request still reads
    /// the row (so updates and removals by any instance count at once), but keys are not re-parsed.
    private let parsed = ParsedClients()

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func insertClient(_ client: Client, audit: AuditEvent?) async throws(StorageError) {
        let json = JSON.object(client.metadata).serialized()
        let id = client.clientID
        let created = Int64(client.createdAt.timeIntervalSince1970)
        try await database.write { db in
            try db.execute(sql: "INSERT INTO clients (client_id, metadata, created_at) VALUES (?, ?, ?)", arguments: [id, json, created])
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func client(id: String) async throws(StorageError) -> Client? {
        let row = try await database.readStatement { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT metadata, created_at FROM clients WHERE client_id = ?"), arguments: [id])
                .map { row -> (String, Int64) in (row[0], row[1]) }
        }
        guard let (metadata, created) = row else { return nil }
        if let cached = parsed.get(id, metadata: metadata) { return cached }
        let client = try Self.decode(id: id, metadata: metadata, created: created)
        parsed.set(id, metadata: metadata, client: client)
        return client
    }

    public func clients() async throws(StorageError) -> [Client] {
        let rows = try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT client_id, metadata, created_at FROM clients ORDER BY created_at, client_id")
                .map { row -> (String, String, Int64) in (row[0], row[1], row[2]) }
        }
        var clients: [Client] = []
        for (id, metadata, created) in rows { clients.append(try Self.decode(id: id, metadata: metadata, created: created)) }
        return clients
    }

    public func replaceClient(_ client: Client, audit: AuditEvent?) async throws(StorageError) -> Bool {
        let json = JSON.object(client.metadata).serialized()
        let id = client.clientID
        return try await database.write { db in
            try db.execute(sql: "UPDATE clients SET metadata = ? WHERE client_id = ?", arguments: [json, id])
            guard db.changesCount > 0 else { return false }
            try SQLiteAuditLog.append(audit, to: db)
            return true
        }
    }

    public func deleteClient(id: String, revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM clients WHERE client_id = ?", arguments: [id])
            guard db.changesCount > 0 else { return false }
            try SQLiteTokenRows.applyAll(revocations, db)
            try SQLiteAuditLog.append(audit, to: db)
            return true
        }
    }

    static func decode(id: String, metadata: String, created: Int64) throws(StorageError) -> Client {
        try Client(storedID: id, metadata: metadata, createdAt: created)
    }

    public func insertResourceServer(_ server: ResourceServer, audit: AuditEvent?) async throws(StorageError) {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO resource_servers (id, name, subject_dn, created_at, introspection_signed_response_alg) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    server.id, server.name, server.subjectDN, Int64(server.createdAt.timeIntervalSince1970), server.introspectionSignedResponseAlg.rawValue,
                ]
            )
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func resourceServers() async throws(StorageError) -> [ResourceServer] {
        let rows = try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, name, subject_dn, created_at, introspection_signed_response_alg FROM resource_servers ORDER BY created_at, name"
            ).map { row -> (id: String, name: String, subjectDN: String, createdAt: Int64, algorithm: String) in
                (row[0], row[1], row[2], row[3], row[4])
            }
        }
        return try rows.map { (row) throws(StorageError) -> ResourceServer in
            ResourceServer(
                id: row.id, name: row.name, subjectDN: row.subjectDN, createdAt: Date(timeIntervalSince1970: TimeInterval(row.createdAt)),
                introspectionSignedResponseAlg: try ResourceServer.storedAlgorithm(row.algorithm, id: row.id))
        }
    }

    public func removeResourceServer(id: String, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM resource_servers WHERE id = ? OR name = ?", arguments: [id, id])
            guard db.changesCount > 0 else { return false }
            try SQLiteAuditLog.append(audit, to: db)
            return true
        }
    }
}
