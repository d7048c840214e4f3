public import AuthorizationServer
public import Foundation
import PostgresNIO

/// Applies the numbered SQL files of `migrations/postgres/` in order, each in its own transaction with its
/// row in `schema_migrations` (PostgreSQL's DDL is transactional: a failing file leaves nothing behind).
///
/// Instances starting at once take turns: the whole run holds a session-level advisory lock, so the
/// second one waits, then finds every migration applied. An applied file edited afterwards, or a database
/// that knows a migration this build does not, stops the run, as with SQLite.
public struct PostgresMigrator: Sendable {
    public typealias Migration = AuthorizationServer.Migration

    /// The advisory lock key: "fapid" in ASCII.
    static let lockKey: Int64 = 0x66_6170_6964

    public let migrations: [Migration]

    /// Reads `NNNN_name.sql` files from `directory`, sorted by name.
    public init(directory: URL) throws(StorageError) {
        self.migrations = try Migration.files(in: directory)
    }

    /// Applies every pending migration; returns the versions applied now.
    @discardableResult
    public func migrate(_ database: PostgresDatabase, now: Date = Date()) async throws(StorageError) -> [String] {
        let migrations = self.migrations
        let lockKey = Self.lockKey
        let seconds = StoredTime.seconds(now)
        do {
            return try await database.client.withConnection { connection -> [String] in
                let tx = Transaction(connection: connection, logger: database.logger)
                // A session-level lock around per-file transactions: released by the unlock below, or by
                // the server when this connection dies.
                try await tx.execute("SELECT pg_advisory_lock(\(lockKey))")
                do {
                    let applied = try await Self.apply(migrations, on: tx, at: seconds)
                    try await tx.execute("SELECT pg_advisory_unlock(\(lockKey))")
                    return applied
                } catch {
                    _ = try? await tx.execute("ROLLBACK")
                    _ = try? await tx.execute("SELECT pg_advisory_unlock(\(lockKey))")
                    throw error
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw PostgresDatabase.translate(error).error
        }
    }

    private static func apply(_ migrations: [Migration], on tx: Transaction, at seconds: Int64) async throws -> [String] {
        try await tx.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version TEXT PRIMARY KEY,
                checksum TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )
            """)
        var known: [String: String] = [:]
        for row in try await tx.rows("SELECT version, checksum FROM schema_migrations") {
            known[try row.value(0, as: String.self)] = try row.value(1, as: String.self)
        }
        let versions = Set(migrations.map(\.version))
        if let unknown = known.keys.sorted().first(where: { !versions.contains($0) }) {
            throw StorageError(.migration, "database has migration \(unknown), which this build does not know; is it newer?")
        }
        var applied: [String] = []
        for migration in migrations {
            if let checksum = known[migration.version] {
                guard checksum == migration.checksum else {
                    throw StorageError(.migration, "migration \(migration.version) was edited after it was applied")
                }
                continue
            }
            try await tx.execute("BEGIN")
            do {
                for statement in Self.statements(migration.sql) { try await tx.execute(PostgresQuery(unsafeSQL: statement)) }
                try await tx.execute(
                    "INSERT INTO schema_migrations (version, checksum, applied_at) VALUES (\(migration.version), \(migration.checksum), \(seconds))")
                try await tx.execute("COMMIT")
            } catch {
                _ = try? await tx.execute("ROLLBACK")
                throw StorageError(.migration, "migration \(migration.version) failed and was rolled back: \(PostgresDatabase.translate(error).error.detail)")
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// The file's statements: split at semicolons outside quotes, `--` comments dropped. (The extended
    /// protocol takes one statement at a time; migrations use no dollar-quoted bodies.)
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var quote: Character? = nil
        var characters = Array(sql)[...]
        while let character = characters.popFirst() {
            if let open = quote {
                current.append(character)
                if character == open { quote = nil }
                continue
            }
            switch character {
            case "'", "\"":
                quote = character
                current.append(character)
            case "-" where characters.first == "-":
                while let next = characters.first, next != "\n" { characters.removeFirst() }
            case ";":
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { statements.append(statement) }
                current = ""
            default:
                current.append(character)
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }
}
