public import AuthorizationServer
public import Foundation
import GRDB
import JOSE

/// `PushedRequestStore` over `pushed_requests`; single use is one conditional UPDATE.
public struct SQLitePushedRequestStore: PushedRequestStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func insertPushedRequest(_ pushed: PushedRequest) async throws(StorageError) {
        let json = pushed.request.json.serialized()
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO pushed_requests (uri_hash, client_id, request, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [Data(pushed.uriHash), pushed.clientID, json, Int64(pushed.expiresAt.timeIntervalSince1970)])
        }
    }

    public func pushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> PushedRequest? {
        let row = try await database.read { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT request, expires_at FROM pushed_requests WHERE uri_hash = ? AND client_id = ? AND used_at IS NULL AND expires_at > ?"),
                arguments: [Data(uriHash), clientID, Int64(now.timeIntervalSince1970)]
            ).map { row -> (String, Int64) in (row[0], row[1]) }
        }
        guard let (json, expires) = row else { return nil }
        do {
            let request = try AuthorizationRequest(json: try JSON.parse(Array(json.utf8)))
            return PushedRequest(uriHash: uriHash, clientID: clientID, request: request, expiresAt: Date(timeIntervalSince1970: TimeInterval(expires)))
        } catch {
            throw StorageError(.conflict, "stored pushed request no longer parses")
        }
    }

    public func consumePushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> Bool {
        let seconds = Int64(now.timeIntervalSince1970)
        return try await database.write { db in
            try db.execute(
                sql: "UPDATE pushed_requests SET used_at = ? WHERE uri_hash = ? AND client_id = ? AND used_at IS NULL AND expires_at > ?",
                arguments: [seconds, Data(uriHash), clientID, seconds])
            return db.changesCount == 1
        }
    }
}
