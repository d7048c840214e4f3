public import AuthorizationServer
public import Foundation
import GRDB

/// The embedded SQLite database: one `DatabasePool` in WAL mode, shared by every store.
///
/// Readers run concurrently with the single writer; a busy timeout lets a second process
/// (`fapictl` beside a running daemon) wait for the write lock instead of failing.
public final class SQLiteDatabase: Sendable {
    let pool: DatabasePool
    public let path: String

    /// Opens (creating when missing) the database at `path`, creating its directory too.
    public init(path: String, busyTimeout: TimeInterval = 5) throws(StorageError) {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(busyTimeout)
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA foreign_keys = ON")
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StorageError(.unavailable, "cannot open SQLite database \(path): \(error)")
        }
    }

    /// The journal mode in force ("wal" for a pool).
    public func journalMode() throws(StorageError) -> String {
        do {
            return try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
        } catch {
            throw StorageError(.unavailable, "\(error)")
        }
    }

    /// Whether a trivial read succeeds (readiness probe).
    public func isAnswering() async -> Bool {
        (try? await read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StorageError) -> T {
        try await translating { try await self.pool.read(body) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StorageError) -> T {
        try await translating { try await self.pool.write(body) }
    }

    private func translating<T>(_ body: () async throws -> T) async throws(StorageError) -> T {
        do {
            return try await body()
        } catch let error as StorageError {
            throw error
        } catch {
            throw Self.translate(error)
        }
    }

    /// Whole seconds since the epoch for an INTEGER column, clamped so no date (however far off an
    /// attacker-chosen `exp` puts it) can trap the conversion.
    static func seconds(_ date: Date) -> Int64 {
        let value = date.timeIntervalSince1970.rounded(.down)
        guard value.isFinite else { return value > 0 ? .max : .min }
        if value >= 9.0e18 { return .max }
        if value <= -9.0e18 { return .min }
        return Int64(value)
    }

    static func translate(_ error: any Error) -> StorageError {
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_CONSTRAINT {
            return StorageError(.conflict, error.message ?? "constraint violated")
        }
        return StorageError(.unavailable, "\(error)")
    }
}
