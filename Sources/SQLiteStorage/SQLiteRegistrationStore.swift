public import AuthorizationServer
import Foundation
import GRDB
import JOSE

/// `RegistrationStore` over `registrations` and `clients`, each change in one transaction.
public struct SQLiteRegistrationStore: RegistrationStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func insertRegistration(_ client: Client, _ record: RegistrationRecord, audit: AuditEvent?) async throws(StorageError) {
        let metadata = JSON.object(client.metadata).serialized()
        let created = Int64(client.createdAt.timeIntervalSince1970)
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO clients (client_id, metadata, created_at) VALUES (?, ?, ?)", arguments: [client.clientID, metadata, created])
            try Self.insert(record, db)
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func registration(clientID: String) async throws(StorageError) -> RegistrationRecord? {
        try await database.read { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT access_token_hash, directory, software_id, org_id, certificate_thumbprint, software_statement
                        FROM registrations WHERE client_id = ?
                        """),
                arguments: [clientID]
            ).map { row in
                RegistrationRecord(
                    clientID: clientID, accessTokenHash: [UInt8](row[0] as Data), directory: row[1], softwareID: row[2], orgID: row[3],
                    certificateThumbprint: row[4], softwareStatement: row[5])
            }
        }
    }

    public func updateRegistration(
        _ client: Client, _ record: RegistrationRecord, previousTokenHash: [UInt8], audit: AuditEvent?
    ) async throws(StorageError) -> Bool {
        let metadata = JSON.object(client.metadata).serialized()
        return try await database.write { db in
            // The token is rotated only by the request that still holds the current one.
            try db.execute(
                sql: "UPDATE registrations SET access_token_hash = ? WHERE client_id = ? AND access_token_hash = ?",
                arguments: [Data(record.accessTokenHash), client.clientID, Data(previousTokenHash)])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: "UPDATE clients SET metadata = ? WHERE client_id = ?", arguments: [metadata, client.clientID])
            try SQLiteAuditLog.append(audit, to: db)
            return true
        }
    }

    private static func insert(_ record: RegistrationRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO registrations (client_id, access_token_hash, directory, software_id, org_id, certificate_thumbprint, software_statement)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.clientID, Data(record.accessTokenHash), record.directory, record.softwareID, record.orgID, record.certificateThumbprint,
                record.softwareStatement,
            ])
    }
}
