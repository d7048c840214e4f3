import AuthorizationServer
import FapidRuntime
import Foundation
import OpenSSLKit
import Logging
import PostgresNIO
@testable import PostgresStorage
import SQLiteStorage
import TestSupport
import Testing

/// The backends every contract test runs against: memory, SQLite and PostgreSQL. PostgreSQL needs `FAPID_TEST_POSTGRES_URL` (an admin URL
/// of a throwaway cluster, as `make test` starts one); under CI its absence fails the run instead of
/// skipping it.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqlite, postgres

    var testDescription: String { rawValue }

    static let postgresURL = ProcessInfo.processInfo.environment["FAPID_TEST_POSTGRES_URL"]

    static var available: [Backend] {
        postgresURL == nil && ProcessInfo.processInfo.environment["CI"] == nil ? [.memory, .sqlite] : allCases
    }
}

/// One fresh, migrated database of `backend` and the stores over it.
struct Fixture {
    let storage: Storage
    let directory: TestPKI

    static let repositoryMigrations = Shell.repositoryRoot.appendingPathComponent("migrations").path

    static func open(_ backend: Backend) async throws -> Fixture {
        let directory = try TestPKI(name: "storage-contract")
        var configuration = FapidConfiguration.defaults
        configuration.migrationsDirectory = repositoryMigrations
        switch backend {
        case .memory:
            return Fixture(storage: .memory(), directory: directory)
        case .sqlite:
            configuration.storage = .sqlite
            configuration.database = directory.path("fapid.sqlite")
        case .postgres:
            let admin = try #require(Backend.postgresURL, "FAPID_TEST_POSTGRES_URL is not set: run the tests through make test")
            configuration.storage = .postgres
            configuration.databaseURL = try await createDatabase(admin: admin)
        }
        var logger = Logger(label: "contract")
        logger.logLevel = .warning
        return Fixture(storage: try await Storage.open(configuration, logger: logger), directory: directory)
    }

    /// A new empty database on the cluster of `admin`, named at random; returns its URL.
    static func createDatabase(admin: String) async throws -> String {
        let name = "contract_" + Crypto.hex(Crypto.randomBytes(8))
        // CREATE DATABASE copies a template: on a loaded 2-core machine, with every test creating one at once, it may
        // take longer than a request's 5 s.
        let database = try PostgresDatabase(url: admin, maximumConnections: 1, timeout: .seconds(60), logger: Logger(label: "contract-admin"))
        defer { database.close() }
        _ = try await database.rows("CREATE DATABASE \(unescaped: name)")
        guard var components = URLComponents(string: admin) else { throw StorageError(.unavailable, "bad admin URL") }
        components.path = "/" + name
        return components.string!
    }

    /// The audit chain as stored verifies with the Swift verifier (`AuditChain.verify`), and has `count` rows:
    /// every backend's chain, however it computes the hashes, is checked against the one definition.
    func auditIsIntact(rows count: Int) async throws -> Bool {
        let rows = try await storage.audit.rows(after: 0)
        let head = try await storage.audit.head()
        return rows.count == count && AuditChain.verify(rows: rows, head: head) == nil
    }
}

/// Runs `count` copies of `body` at once and returns how many returned true.
func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> Bool) async -> Int {
    await withTaskGroup(of: Bool.self) { group in
        for index in 0..<count { group.addTask { (try? await body(index)) ?? false } }
        var successes = 0
        for await success in group where success { successes += 1 }
        return successes
    }
}
