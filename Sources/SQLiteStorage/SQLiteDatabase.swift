public import AuthorizationServer
public import Foundation
import FapidTracing
import GRDB
import Synchronization

/// The embedded SQLite database: one `DatabasePool` in WAL mode, shared by every store.
///
/// Readers run concurrently with the single writer; a busy timeout lets a second process
/// (`fapictl` beside a running daemon) wait for the write lock instead of failing.
public final class SQLiteDatabase: Sendable {
    let pool: DatabasePool
    let group: GroupCommit
    let pointReaders: PointReaders
    public let path: String

    /// Opens (creating when missing) the database at `path`, creating its directory too.
    /// With `backgroundCheckpoints`, commits never copy the WAL back into the database themselves (the
    /// writer is the one serial resource of the token path); the daemon calls `checkpoint()` every second
    /// from a connection of its own instead.
    public init(path: String, busyTimeout: TimeInterval = 5, backgroundCheckpoints: Bool = false) throws(StorageError) {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            if !FileManager.default.fileExists(atPath: directory.path) {
                // Not writable by others whatever the umask: they could otherwise remove or replace the files.
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
            try Self.createPrivately(path)
            var configuration = Configuration()
            configuration.busyMode = .timeout(busyTimeout)
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA foreign_keys = ON")
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // Pages come from a memory map rather than one read() each.
                try db.execute(sql: "PRAGMA mmap_size = 268435456")
                if backgroundCheckpoints { try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            group = GroupCommit(pool: pool)
            pointReaders = PointReaders(path: path, busyTimeout: busyTimeout)
        } catch {
            throw StorageError(.unavailable, "cannot open SQLite database \(path): \(error)")
        }
    }

    /// Creates a missing database file empty (SQLite treats an empty file as a new database) with mode 0600
    /// whatever the umask. SQLite gives the `-wal` and `-shm` files it creates the mode of the database file
    /// (`robust_open` with the main file's permissions), so those are 0600 too.
    static func createPrivately(_ path: String) throws(StorageError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { return }
            throw StorageError(.unavailable, "cannot create SQLite database \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        guard fchmod(descriptor, 0o600) == 0 else {
            throw StorageError(.unavailable, "cannot set the mode of SQLite database \(path): \(String(cString: strerror(errno)))")
        }
    }

    private let checkpointer = Mutex<DatabaseQueue?>(nil)

    /// Copies committed WAL frames into the database and starts the WAL over (RESTART): it waits, at most
    /// the busy timeout, for the short reads in progress to move on, and holds the writer back for the copy.
    /// Without restarts a WAL under constant reads grows without bound (every write then lands on fresh
    /// file pages); with them it stays at about one interval's worth of writes.
    /// Returns the frames that were in the WAL and those copied.
    @discardableResult
    public func checkpoint() throws(StorageError) -> (busy: Bool, walFrames: Int, checkpointed: Int) {
        do {
            let queue = try checkpointer.withLock { queue -> DatabaseQueue in
                if let queue { return queue }
                var configuration = Configuration()
                configuration.busyMode = .timeout(1)
                let made = try DatabaseQueue(path: path, configuration: configuration)
                queue = made
                return made
            }
            return try queue.writeWithoutTransaction { db in
                // PASSIVE first copies the bulk beside the writer; RESTART then only has the frames since to
                // copy while it holds the writer back, so writes stall for a moment, not for the whole copy.
                _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
                let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(RESTART)")
                return (busy: row?[0] == 1, walFrames: row?[1] ?? 0, checkpointed: row?[2] ?? 0)
            }
        } catch {
            throw Self.translate(error)
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

    /// Group-commit statistics since start: commits, and the writes they carried.
    public var commitStatistics: (commits: Int, writes: Int) { group.statistics.withLock { $0 } }

    /// Whether a trivial read succeeds (readiness probe).
    public func isAnswering() async -> Bool {
        (try? await read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }

    /// Reads run on the calling thread: a point read from the page cache takes microseconds, less than a
    /// hop to another thread and back would.
    func read<T: Sendable>(
        file: StaticString = #fileID, function: StaticString = #function, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(StorageError) -> T {
        try await Traced.store(system: "sqlite", file: file, function: function) { () async throws(StorageError) -> T in
            try await translating { try self.pool.read(body) }
        }
    }

    /// A read of one statement, which SQLite runs atomically anyway: without the BEGIN/COMMIT pair that
    /// `read` wraps around several statements for a consistent snapshot, and on a read-only connection
    /// taken from a plain free list (the point reads of every token request: checking a connection out of
    /// GRDB's pool costs a barrier on a concurrent queue and a key path built per call).
    func readStatement<T: Sendable>(
        file: StaticString = #fileID, function: StaticString = #function, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(StorageError) -> T {
        try await Traced.store(system: "sqlite", file: file, function: function) { () async throws(StorageError) -> T in
            try await translating { try self.pointReaders.read(body) }
        }
    }

    /// Writes are group-committed (`GroupCommit`): each in a savepoint of a shared transaction. Each of these
    /// three is a trace span when tracing is on, named by the calling store and method (`Traced.store`).
    func write<T: Sendable>(
        file: StaticString = #fileID, function: StaticString = #function, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(StorageError) -> T {
        try await Traced.store(system: "sqlite", file: file, function: function) { () async throws(StorageError) -> T in
            try await translating { try await self.group.write(body) }
        }
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
    static func seconds(_ date: Date) -> Int64 { StoredTime.seconds(date) }

    static func translate(_ error: any Error) -> StorageError {
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_CONSTRAINT {
            return StorageError(.conflict, error.message ?? "constraint violated")
        }
        return StorageError(.unavailable, "\(error)")
    }
}

/// Read-only connections for single-statement reads, kept in a free list: taking one is a lock and an
/// array pop. At most `keep` stay open; a burst beyond that opens extra ones and closes them after use.
final class PointReaders: Sendable {
    let path: String
    let configuration: Configuration
    private let idle = Mutex<[DatabaseQueue]>([])
    static let keep = 8

    init(path: String, busyTimeout: TimeInterval) {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA mmap_size = 268435456") }
        self.configuration = configuration
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        let queue = try idle.withLock { $0.popLast() } ?? DatabaseQueue(path: path, configuration: configuration)
        defer {
            idle.withLock { list in
                if list.count < Self.keep { list.append(queue) }
            }
        }
        return try queue.unsafeRead(body)
    }
}
