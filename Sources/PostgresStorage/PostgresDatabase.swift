public import AuthorizationServer
import FapidTracing
import Foundation
public import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// A PostgreSQL database shared by every store, and by every fapid instance pointed at it.
///
/// Each store operation is one transaction on a pooled connection. Whatever must happen once across
/// instances is decided by the database: conditional `UPDATE … RETURNING`, `INSERT … ON CONFLICT DO NOTHING`,
/// unique constraints, and row locks (`SELECT … FOR UPDATE`) taken in one order: a client before its
/// registration, codes and tokens; a code before the tokens issued from it; the audit head last. A
/// transaction that still loses a deadlock or a serialization check is retried a few times.
public final class PostgresDatabase: Sendable {
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    /// The URL without its password, for logs.
    public let redactedURL: String

    /// Connects lazily to `url` (`postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`),
    /// keeping at most `maximumConnections` open.
    /// Longest wait for one store operation, connection included: an unreachable database fails requests
    /// (and `/healthz`) after this instead of holding them.
    let timeout: Duration

    public init(url: String, maximumConnections: Int = 20, timeout: Duration = .seconds(5), logger: Logger) throws(StorageError) {
        self.timeout = timeout
        let parsed = try ConnectionURL(url)
        var configuration = PostgresClient.Configuration(
            host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password, database: parsed.database, tls: parsed.tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        // The server ends what a silent client left behind: a statement running past the timeout, and a
        // transaction left open (which could hold the audit head's lock), so no instance waits on another's.
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", String(milliseconds)), ("idle_in_transaction_session_timeout", String(2 * milliseconds)),
            ("client_encoding", "UTF8"),
        ]
        // The pool's own chatter (a lease asked for in the instant before its run loop starts, connections
        // closed at shutdown) is not the operator's concern; failures reach the caller as errors anyway.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.logger = logger
        self.redactedURL = parsed.redacted
        let client = self.client
        // The client leases connections only while its run() is active: it lives as long as this object.
        self.runner = Task { await client.run() }
    }

    deinit { runner.cancel() }

    /// Closes the pool; queries fail afterwards.
    public func close() {
        runner.cancel()
    }

    public func isAnswering() async -> Bool {
        (try? await rows("SELECT 1").count) == 1
    }

    /// Runs `body` in one transaction (READ COMMITTED), committing when it returns, rolling back when it
    /// throws. A deadlock or serialization failure retries the whole body, at most three times.
    /// A trace span when tracing is on, named by the calling store and method (`Traced.store`), as `rows` is.
    func transaction<T: Sendable>(
        file: StaticString = #fileID, function: StaticString = #function, _ body: @escaping @Sendable (Transaction) async throws -> T
    ) async throws(StorageError) -> T {
        try await Traced.store(system: "postgresql", file: file, function: function) { () async throws(StorageError) -> T in
            try await retryingTransaction(body)
        }
    }

    private func retryingTransaction<T: Sendable>(_ body: @escaping @Sendable (Transaction) async throws -> T) async throws(StorageError) -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await bounded { [client, logger] in
                    try await client.withConnection { connection in
                        try await Self.run(on: connection, logger: logger, body)
                    }
                }
            } catch {
                let translated = Self.translate(error)
                if translated.retryable, attempt < 3 { continue }
                throw translated.error
            }
        }
    }

    private static func run<T: Sendable>(on connection: PostgresConnection, logger: Logger, _ body: @Sendable (Transaction) async throws -> T) async throws -> T {
        let tx = Transaction(connection: connection, logger: logger)
        try await connection.query("BEGIN", logger: logger)
        do {
            let result = try await body(tx)
            try await connection.query("COMMIT", logger: logger)
            return result
        } catch {
            // A broken connection is closed by the pool; otherwise the transaction is undone before reuse.
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// A single statement outside an explicit transaction (its own implicit one): one round trip.
    func rows(_ query: PostgresQuery, file: StaticString = #fileID, function: StaticString = #function) async throws(StorageError)
        -> [PostgresRandomAccessRow]
    {
        try await Traced.store(system: "postgresql", file: file, function: function) { () async throws(StorageError) -> [PostgresRandomAccessRow] in
            try await statement(query)
        }
    }

    private func statement(_ query: PostgresQuery) async throws(StorageError) -> [PostgresRandomAccessRow] {
        do {
            return try await bounded { [client, logger] in
                var result: [PostgresRandomAccessRow] = []
                for try await row in try await client.query(query, logger: logger) { result.append(row.makeRandomAccess()) }
                return Rows(rows: result)
            }.rows
        } catch {
            throw Self.translate(error).error
        }
    }

    /// A single-statement read, each row decoded by `decode`.
    func map<T>(
        _ query: PostgresQuery, file: StaticString = #fileID, function: StaticString = #function, _ decode: (PostgresRandomAccessRow) throws -> T
    ) async throws(StorageError) -> [T] {
        let rows = try await self.rows(query, file: file, function: function)
        do {
            return try rows.map(decode)
        } catch {
            throw Self.translate(error).error
        }
    }

    /// Runs `operation`, or fails with `unavailable` once `timeout` has passed. The caller is answered then,
    /// whatever the operation is doing: a lease waiting for an unreachable server is cancelled, and a query
    /// sent on a connection that went silent finishes (or fails) in the background, bounded on the server by
    /// the session's `statement_timeout` and `idle_in_transaction_session_timeout`.
    private func bounded<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = self.timeout
        let outcome = Race<T>()
        let work = Task {
            do { outcome.finish(.success(try await operation())) } catch { outcome.finish(.failure(error)) }
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            outcome.finish(.failure(StorageError(.unavailable, "the database did not answer within \(timeout)")))
        }
        let result = await outcome.value
        timer.cancel()
        work.cancel()
        return try result.get()
    }

    static func translate(_ error: any Error) -> (error: StorageError, retryable: Bool) {
        if let error = error as? StorageError { return (error, false) }
        if let error = error as? PSQLError {
            let state = error.serverInfo?[.sqlState] ?? ""
            let message = error.serverInfo?[.message] ?? "\(error.code)"
            switch state {
            case "23505", "23503", "23514", "23502": return (StorageError(.conflict, message), false)
            case "40001", "40P01": return (StorageError(.unavailable, message), true)
            default: return (StorageError(.unavailable, "postgres \(state): \(message)"), false)
            }
        }
        return (StorageError(.unavailable, "\(error)"), false)
    }
}

/// The first of several results to arrive; later ones are dropped.
final class Race<T: Sendable>: Sendable {
    private let state = Mutex<(result: Result<T, any Error>?, waiter: CheckedContinuation<Result<T, any Error>, Never>?)>((nil, nil))

    func finish(_ result: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>, Never>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: result)
    }

    var value: Result<T, any Error> {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Result<T, any Error>? in
                    if let result = state.result { return result }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}

/// Rows crossing a task boundary: decoded cells are plain buffers, read by one task at a time.
struct Rows: @unchecked Sendable {
    let rows: [PostgresRandomAccessRow]
}

/// One open transaction's connection.
struct Transaction {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs the statement and returns its rows (use `RETURNING` to learn what a write changed).
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        var result: [PostgresRandomAccessRow] = []
        for try await row in try await connection.query(query, logger: logger) { result.append(row.makeRandomAccess()) }
        return result
    }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }
}

/// A statement put together from parts, each value bound as a parameter (`$n`), never spliced into the text.
struct Statement {
    var sql = ""
    var binds = PostgresBindings()
    private var ctes: [String] = []

    /// Binds `value` and returns its placeholder.
    mutating func bind<Value: PostgresNonThrowingEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind<Value: PostgresNonThrowingEncodable>(_ value: Value?) -> String {
        if let value { binds.append(value) } else { binds.appendNull() }
        return "$\(binds.count)"
    }

    /// Adds a common table expression (`name AS (…)`); `sql` is then written after the `WITH` clause.
    mutating func with(_ cte: String) { ctes.append(cte) }

    var query: PostgresQuery {
        PostgresQuery(unsafeSQL: ctes.isEmpty ? sql : "WITH " + ctes.joined(separator: ",\n") + "\n" + sql, binds: binds)
    }
}

extension PostgresRandomAccessRow {
    /// Column `index` as `T`; a NULL or a value of another type fails as a storage error, never a trap.
    func value<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws -> T {
        try self[index].decode(T.self)
    }

    func bytes(_ index: Int) throws -> [UInt8] { [UInt8](try value(index, as: Data.self)) }
    func optionalBytes(_ index: Int) throws -> [UInt8]? { try value(index, as: Data?.self).map { [UInt8]($0) } }
    func date(_ index: Int) throws -> Date { StoredTime.date(try value(index, as: Int64.self)) }
    func optionalDate(_ index: Int) throws -> Date? { try value(index, as: Int64?.self).map(StoredTime.date) }
}

/// `postgres://user[:password]@host[:port]/database[?sslmode=…]`, as libpq spells it.
struct ConnectionURL {
    let host: String
    let port: Int
    let user: String
    let password: String?
    let database: String
    let tls: PostgresClient.Configuration.TLS
    let redacted: String

    init(_ text: String) throws(StorageError) {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
        else { throw StorageError(.unavailable, "database_url must look like postgres://user[:password]@host[:port]/database") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw StorageError(.unavailable, "database_url names no database") }
        self.host = host
        self.port = components.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database
        let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.minimumTLSVersion = .tlsv12
        switch mode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(tlsConfiguration)
        case "require", "verify-ca", "verify-full": tls = .require(tlsConfiguration)
        default: throw StorageError(.unavailable, "database_url sslmode must be disable, prefer or require")
        }
        var shown = components
        if shown.password != nil { shown.password = "***" }
        redacted = shown.string ?? "postgres://\(host)"
    }
}
