import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import SQLiteStorage
import Synchronization
import TestSupport

/// A clock the test sets and moves.
final class TestClock: Clock {
    private let time: Mutex<Date>

    init(_ date: Date) { time = Mutex(date) }

    func now() -> Date { time.withLock { $0 } }

    func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// Every store on a fresh, migrated SQLite file in a temporary directory, for tests of the core's services.
struct CoreServiceFixture {
    static let issuer = "https://as.example"
    static let redirect = "https://tpp.example/cb"

    let directory: TestPKI
    let storage: Storage
    let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))

    init(_ name: String) throws {
        directory = try TestPKI(name: name)
        let database = try SQLiteDatabase(path: directory.path("fapid.sqlite"))
        try SQLiteMigrator(directory: Shell.repositoryRoot.appendingPathComponent("migrations/sqlite")).migrate(database)
        storage = Storage(sqlite: database)
    }

    /// Registers a client (a TPP with a redirect URI and a CIBA ping endpoint) directly in the store.
    @discardableResult
    func client(_ id: String, name: String? = "Example TPP", extra: [String: JSON] = [:]) async throws -> Client {
        var metadata: [String: JSON] = [
            "tls_client_auth_subject_dn": "CN=tpp,O=TPP,C=GB", "redirect_uris": [.string(Self.redirect)], "scope": "openid accounts payments",
            "org_name": "TPP Ltd",
        ]
        if let name { metadata["client_name"] = .string(name) }
        metadata.merge(extra) { _, new in new }
        let client = try Client(clientID: id, metadata: metadata, createdAt: clock.now())
        try await storage.clients.insertClient(client, audit: nil)
        return client
    }
}
