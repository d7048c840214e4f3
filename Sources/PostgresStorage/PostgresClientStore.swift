public import AuthorizationServer
public import Foundation
import JOSE
import NIOCore
import PostgresNIO

/// `ClientStore`, `ResourceServerStore`, `RegistrationStore` and `UserStore` on PostgreSQL.
public struct PostgresClientStore: ClientStore, ResourceServerStore, RegistrationStore, UserStore {
    let database: PostgresDatabase
    private let parsed = ParsedClients()

    public init(database: PostgresDatabase) {
        self.database = database
    }

    // MARK: Clients

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

    public func removeClient(id: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool {
        let now = StoredTime.seconds(at)
        return try await database.transaction { tx in
            guard try await !tx.rows("DELETE FROM clients WHERE client_id = \(id) RETURNING 1").isEmpty else { return false }
            // Tokens of a removed client stop working at once, on every instance.
            try await tx.execute("UPDATE access_tokens SET revoked_at = \(now) WHERE client_id = \(id) AND revoked_at IS NULL")
            try await tx.execute("UPDATE refresh_tokens SET revoked_at = \(now) WHERE client_id = \(id) AND revoked_at IS NULL")
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }

    // MARK: Resource servers

    public func insertResourceServer(_ server: ResourceServer, audit: AuditEvent?) async throws(StorageError) {
        try await database.transaction { tx in
            try await tx.execute(
                """
                INSERT INTO resource_servers (id, name, subject_dn, created_at)
                VALUES (\(server.id), \(server.name), \(server.subjectDN), \(StoredTime.seconds(server.createdAt)))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func resourceServers() async throws(StorageError) -> [ResourceServer] {
        try await database.map("SELECT id, name, subject_dn, created_at FROM resource_servers ORDER BY created_at, name") { row in
            ResourceServer(id: try row.value(0), name: try row.value(1), subjectDN: try row.value(2), createdAt: try row.date(3))
        }
    }

    public func removeResourceServer(id: String, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.transaction { tx in
            guard try await !tx.rows("DELETE FROM resource_servers WHERE id = \(id) OR name = \(id) RETURNING 1").isEmpty else { return false }
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }

    // MARK: Registrations

    public func insertRegistration(_ client: Client, _ record: RegistrationRecord, audit: AuditEvent?) async throws(StorageError) {
        let metadata = JSON.object(client.metadata).serialized()
        try await database.transaction { tx in
            try await tx.execute(
                "INSERT INTO clients (client_id, metadata, created_at) VALUES (\(client.clientID), \(metadata), \(StoredTime.seconds(client.createdAt)))")
            try await tx.execute(
                """
                INSERT INTO registrations (client_id, access_token_hash, directory, software_id, org_id, certificate_thumbprint, software_statement)
                VALUES (\(record.clientID), \(ByteBuffer(bytes: record.accessTokenHash)), \(record.directory), \(record.softwareID), \(record.orgID),
                    \(record.certificateThumbprint), \(record.softwareStatement))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func registration(clientID: String) async throws(StorageError) -> RegistrationRecord? {
        try await database.map(
            """
            SELECT access_token_hash, directory, software_id, org_id, certificate_thumbprint, software_statement
            FROM registrations WHERE client_id = \(clientID)
            """
        ) { row in
            RegistrationRecord(
                clientID: clientID, accessTokenHash: try row.bytes(0), directory: try row.value(1), softwareID: try row.value(2),
                orgID: try row.value(3), certificateThumbprint: try row.value(4), softwareStatement: try row.value(5))
        }.first
    }

    public func updateRegistration(
        _ client: Client, _ record: RegistrationRecord, previousTokenHash: [UInt8], audit: AuditEvent?
    ) async throws(StorageError) -> Bool {
        let metadata = JSON.object(client.metadata).serialized()
        return try await database.transaction { tx in
            // The client first, as its removal locks it (then its registration, by the cascade).
            try await tx.execute("SELECT 1 FROM clients WHERE client_id = \(client.clientID) FOR UPDATE")
            // The token is rotated only by the request that still holds the current one.
            let updated = try await tx.rows(
                """
                UPDATE registrations SET access_token_hash = \(ByteBuffer(bytes: record.accessTokenHash))
                WHERE client_id = \(client.clientID) AND access_token_hash = \(ByteBuffer(bytes: previousTokenHash)) RETURNING 1
                """)
            guard !updated.isEmpty else { return false }
            try await tx.execute("UPDATE clients SET metadata = \(metadata) WHERE client_id = \(client.clientID)")
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }

    // MARK: Users

    public func insertUser(_ user: User) async throws(StorageError) {
        _ = try await database.rows(
            "INSERT INTO users (username, password_hash, created_at) VALUES (\(user.username), \(user.passwordHash), \(StoredTime.seconds(user.createdAt)))")
    }

    public func user(named name: String) async throws(StorageError) -> User? {
        try await database.map("SELECT password_hash, created_at FROM users WHERE username = \(name)") { row in
            User(username: name, passwordHash: try row.value(0), createdAt: try row.date(1))
        }.first
    }

    public func users() async throws(StorageError) -> [User] {
        try await database.map("SELECT username, password_hash, created_at FROM users ORDER BY username") { row in
            User(username: try row.value(0), passwordHash: try row.value(1), createdAt: try row.date(2))
        }
    }
}
