public import AuthorizationServer
public import Foundation
import JOSE
import NIOCore
import PostgresNIO

/// `PushedRequestStore` on PostgreSQL; a `request_uri` is consumed by `UPDATE … WHERE used_at IS NULL RETURNING`.
public struct PostgresPushedRequestStore: PushedRequestStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func insertPushedRequest(_ pushed: PushedRequest) async throws(StorageError) {
        let json = pushed.request.json.serialized()
        _ = try await database.rows(
            """
            INSERT INTO pushed_requests (uri_hash, client_id, request, expires_at)
            VALUES (\(ByteBuffer(bytes: pushed.uriHash)), \(pushed.clientID), \(json), \(StoredTime.seconds(pushed.expiresAt)))
            """)
    }

    public func pushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> PushedRequest? {
        let rows = try await database.map(
            """
            SELECT request, expires_at FROM pushed_requests
            WHERE uri_hash = \(ByteBuffer(bytes: uriHash)) AND client_id = \(clientID) AND used_at IS NULL AND expires_at > \(StoredTime.seconds(now))
            """
        ) { row in (try row.value(0, as: String.self), try row.date(1)) }
        guard let (json, expires) = rows.first else { return nil }
        do {
            let request = try AuthorizationRequest(json: try JSON.parse(Array(json.utf8)))
            return PushedRequest(uriHash: uriHash, clientID: clientID, request: request, expiresAt: expires)
        } catch {
            throw StorageError(.conflict, "stored pushed request no longer parses")
        }
    }

    public func consumePushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> Bool {
        let seconds = StoredTime.seconds(now)
        return try await !database.rows(
            """
            UPDATE pushed_requests SET used_at = \(seconds)
            WHERE uri_hash = \(ByteBuffer(bytes: uriHash)) AND client_id = \(clientID) AND used_at IS NULL AND expires_at > \(seconds) RETURNING 1
            """
        ).isEmpty
    }
}
