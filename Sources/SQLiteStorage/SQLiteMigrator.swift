public import AuthorizationServer
public import Foundation
import GRDB

/// Applies the numbered SQL files of `migrations/` in order.
///
/// Each file runs in its own transaction together with its row in `schema_migrations`, so a
/// failing file leaves the database exactly as it was before that file. An applied file that was
/// edited afterwards, or a database that knows a migration this build does not, stops the run.
public struct SQLiteMigrator: Sendable {
    public typealias Migration = AuthorizationServer.Migration

    public let migrations: [Migration]

    /// Reads `NNNN_name.sql` files from `directory`, sorted by name.
    /// Reads `NNNN_name.sql` files from `directory`, sorted by name.
    public init(directory: URL) throws(StorageError) {
        self.migrations = try Migration.files(in: directory)
    }

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    /// Versions already applied to `database`, in order.
    public func appliedVersions(_ database: SQLiteDatabase) throws(StorageError) -> [String] {
        do {
            return try database.pool.read { db in
                guard try db.tableExists("schema_migrations") else { return [] }
                return try String.fetchAll(db, sql: "SELECT version FROM schema_migrations ORDER BY version")
            }
        } catch {
            throw SQLiteDatabase.translate(error)
        }
    }

    /// Applies every pending migration; returns the versions applied now.
    @discardableResult
    public func migrate(_ database: SQLiteDatabase, now: Date = Date()) throws(StorageError) -> [String] {
        var applied: [String] = []
        do {
            try database.pool.writeWithoutTransaction { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS schema_migrations (
                            version TEXT PRIMARY KEY NOT NULL,
                            checksum TEXT NOT NULL,
                            applied_at INTEGER NOT NULL
                        )
                        """
                )
                let rows = try Row.fetchAll(db, sql: "SELECT version, checksum FROM schema_migrations")
                let known = Dictionary(uniqueKeysWithValues: rows.map { (row: Row) -> (String, String) in (row["version"], row["checksum"]) })
                let versions = Set(migrations.map(\.version))
                if let unknown = known.keys.sorted().first(where: { !versions.contains($0) }) {
                    throw StorageError(.migration, "database has migration \(unknown), which this build does not know; is it newer?")
                }
                for migration in migrations {
                    if let checksum = known[migration.version] {
                        guard checksum == migration.checksum else {
                            throw StorageError(.migration, "migration \(migration.version) was edited after it was applied")
                        }
                        continue
                    }
                    do {
                        try db.inTransaction(.immediate) {
                            try db.execute(sql: migration.sql)
                            try db.execute(
                                sql: "INSERT INTO schema_migrations (version, checksum, applied_at) VALUES (?, ?, ?)",
                                arguments: [migration.version, migration.checksum, Int64(now.timeIntervalSince1970)]
                            )
                            return .commit
                        }
                    } catch {
                        throw StorageError(.migration, "migration \(migration.version) failed and was rolled back: \(error)")
                    }
                    applied.append(migration.version)
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw SQLiteDatabase.translate(error)
        }
        return applied
    }
}
