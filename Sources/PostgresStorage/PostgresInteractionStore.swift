public import AuthorizationServer
public import Foundation
import JOSE
import NIOCore
import PostgresNIO

/// `InteractionStore` on PostgreSQL: the browser's next request may reach any instance. A consent form is
/// taken by `DELETE … RETURNING`, so of concurrent submissions one proceeds.
public struct PostgresInteractionStore: InteractionStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    static let columns = "id_hash, client_id, request, request_uri_hash, csrf_hash, created_at, expires_at, username, auth_time"

    static func decode(_ row: PostgresRandomAccessRow) throws -> PSUInteraction {
        PSUInteraction(
            idHash: try row.bytes(0), clientID: try row.value(1),
            request: try AuthorizationRequest(json: try JSON.parse(Array(try row.value(2, as: String.self).utf8))),
            requestURIHash: try row.optionalBytes(3), csrfHash: try row.bytes(4), createdAt: try row.date(5), expiresAt: try row.date(6),
            username: try row.value(7), authTime: try row.optionalDate(8))
    }

    /// Advisory-lock class of the per-`request_uri` bound (the two-key form, apart from the migrator's lock).
    static let lockClass: Int32 = 0x0016

    public func insertInteraction(_ interaction: PSUInteraction, livePerRequestURI: Int) async throws(StorageError) -> Bool {
        let json = interaction.request.json.serialized()
        @Sendable func insert(_ tx: Transaction) async throws {
            try await tx.execute(
                """
                INSERT INTO psu_interactions (\(unescaped: Self.columns)) VALUES (\(ByteBuffer(bytes: interaction.idHash)), \(interaction.clientID), \(json),
                    \(interaction.requestURIHash.map { ByteBuffer(bytes: $0) }), \(ByteBuffer(bytes: interaction.csrfHash)),
                    \(StoredTime.seconds(interaction.createdAt)), \(StoredTime.seconds(interaction.expiresAt)), \(interaction.username),
                    \(interaction.authTime.map(StoredTime.seconds)))
                """)
        }
        guard let uri = interaction.requestURIHash, livePerRequestURI < .max else {
            try await database.transaction { tx in try await insert(tx) }
            return true
        }
        // Instances counting at once take turns per request_uri: a transaction-scoped advisory lock, so the
        // count and the insert are one step under READ COMMITTED.
        let key = uri.prefix(4).reduce(Int32(0)) { ($0 << 8) | Int32($1) }
        let now = StoredTime.seconds(interaction.createdAt)
        return try await database.transaction { tx in
            try await tx.execute("SELECT pg_advisory_xact_lock(\(Self.lockClass), \(key))")
            let live = try await tx.rows(
                "SELECT COUNT(*) FROM psu_interactions WHERE request_uri_hash = \(ByteBuffer(bytes: uri)) AND expires_at > \(now)"
            ).first?.value(0, as: Int64.self) ?? 0
            if live >= Int64(livePerRequestURI) { return false }
            try await insert(tx)
            return true
        }
    }

    public func interaction(idHash: [UInt8], now: Date) async throws(StorageError) -> PSUInteraction? {
        try await database.map(
            """
            SELECT \(unescaped: Self.columns) FROM psu_interactions
            WHERE id_hash = \(ByteBuffer(bytes: idHash)) AND expires_at > \(StoredTime.seconds(now))
            """, Self.decode
        ).first
    }

    public func signInInteraction(idHash: [UInt8], username: String, authTime: Date, now: Date) async throws(StorageError) -> Bool {
        try await !database.rows(
            """
            UPDATE psu_interactions SET username = \(username), auth_time = \(StoredTime.seconds(authTime))
            WHERE id_hash = \(ByteBuffer(bytes: idHash)) AND expires_at > \(StoredTime.seconds(now)) RETURNING 1
            """
        ).isEmpty
    }

    public func takeInteraction(idHash: [UInt8], csrfHash: [UInt8], now: Date) async throws(StorageError) -> PSUInteraction? {
        try await database.map(
            """
            DELETE FROM psu_interactions
            WHERE id_hash = \(ByteBuffer(bytes: idHash)) AND csrf_hash = \(ByteBuffer(bytes: csrfHash)) AND expires_at > \(StoredTime.seconds(now))
            RETURNING \(unescaped: Self.columns)
            """, Self.decode
        ).first
    }

    public func insertSession(_ session: PSUSession) async throws(StorageError) {
        _ = try await database.rows(
            """
            INSERT INTO psu_sessions (id_hash, username, auth_time, expires_at)
            VALUES (\(ByteBuffer(bytes: session.idHash)), \(session.username), \(StoredTime.seconds(session.authTime)),
                \(StoredTime.seconds(session.expiresAt)))
            """)
    }

    public func session(idHash: [UInt8], now: Date) async throws(StorageError) -> PSUSession? {
        try await database.map(
            """
            SELECT username, auth_time, expires_at FROM psu_sessions
            WHERE id_hash = \(ByteBuffer(bytes: idHash)) AND expires_at > \(StoredTime.seconds(now))
            """
        ) { row in PSUSession(idHash: idHash, username: try row.value(0), authTime: try row.date(1), expiresAt: try row.date(2)) }.first
    }

    public func deleteExpired(_ cutoffs: [ExpiryCutoff]) async throws(StorageError) -> Int {
        try await database.transaction { tx in try await PostgresTokenRows.deleteExpired(cutoffs, tx) }
    }
}
