public import AuthorizationServer
public import Foundation
import GRDB
import JOSE

/// `InteractionStore` over `psu_interactions` and `psu_sessions`.
public struct SQLiteInteractionStore: InteractionStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    static let columns = "id_hash, client_id, request, request_uri_hash, csrf_hash, created_at, expires_at, username, auth_time"

    static func decode(_ row: Row) throws -> PSUInteraction {
        PSUInteraction(
            idHash: [UInt8](row[0] as Data), clientID: row[1], request: try AuthorizationRequest(json: try JSON.parse(Array((row[2] as String).utf8))),
            requestURIHash: (row[3] as Data?).map { [UInt8]($0) }, csrfHash: [UInt8](row[4] as Data), createdAt: StoredTime.date(row[5]),
            expiresAt: StoredTime.date(row[6]), username: row[7], authTime: (row[8] as Int64?).map(StoredTime.date))
    }

    public func insertInteraction(_ interaction: PSUInteraction, livePerRequestURI: Int) async throws(StorageError) -> Bool {
        let json = interaction.request.json.serialized()
        // One writer at a time (SQLite): the count and the insert cannot interleave with another's.
        return try await database.write { db in
            if let uri = interaction.requestURIHash, livePerRequestURI < .max {
                let live = try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM psu_interactions WHERE request_uri_hash = ? AND expires_at > ?",
                    arguments: [Data(uri), StoredTime.seconds(interaction.createdAt)]) ?? 0
                if live >= livePerRequestURI { return false }
            }
            try db.execute(
                sql: "INSERT INTO psu_interactions (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    Data(interaction.idHash), interaction.clientID, json, interaction.requestURIHash.map { Data($0) }, Data(interaction.csrfHash),
                    StoredTime.seconds(interaction.createdAt), StoredTime.seconds(interaction.expiresAt), interaction.username,
                    interaction.authTime.map(StoredTime.seconds),
                ])
            return true
        }
    }

    public func interaction(idHash: [UInt8], now: Date) async throws(StorageError) -> PSUInteraction? {
        try await database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Self.columns) FROM psu_interactions WHERE id_hash = ? AND expires_at > ?",
                arguments: [Data(idHash), StoredTime.seconds(now)]
            ).map(Self.decode)
        }
    }

    public func signInInteraction(idHash: [UInt8], username: String, authTime: Date, now: Date) async throws(StorageError) -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE psu_interactions SET username = ?, auth_time = ? WHERE id_hash = ? AND expires_at > ?",
                arguments: [username, StoredTime.seconds(authTime), Data(idHash), StoredTime.seconds(now)])
            return db.changesCount == 1
        }
    }

    public func takeInteraction(idHash: [UInt8], csrfHash: [UInt8], now: Date) async throws(StorageError) -> PSUInteraction? {
        try await database.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT \(Self.columns) FROM psu_interactions WHERE id_hash = ? AND csrf_hash = ? AND expires_at > ?",
                    arguments: [Data(idHash), Data(csrfHash), StoredTime.seconds(now)])
            else { return nil }
            try db.execute(sql: "DELETE FROM psu_interactions WHERE id_hash = ?", arguments: [Data(idHash)])
            return try Self.decode(row)
        }
    }

    public func insertSession(_ session: PSUSession) async throws(StorageError) {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO psu_sessions (id_hash, username, auth_time, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [Data(session.idHash), session.username, StoredTime.seconds(session.authTime), StoredTime.seconds(session.expiresAt)])
        }
    }

    public func session(idHash: [UInt8], now: Date) async throws(StorageError) -> PSUSession? {
        try await database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT username, auth_time, expires_at FROM psu_sessions WHERE id_hash = ? AND expires_at > ?",
                arguments: [Data(idHash), StoredTime.seconds(now)]
            ).map { row in
                PSUSession(idHash: idHash, username: row[0], authTime: StoredTime.date(row[1]), expiresAt: StoredTime.date(row[2]))
            }
        }
    }

    public func deleteExpired(_ cutoffs: [ExpiryCutoff]) async throws(StorageError) -> Int {
        try await database.write { db in try SQLiteTokenRows.deleteExpired(cutoffs, db) }
    }
}
