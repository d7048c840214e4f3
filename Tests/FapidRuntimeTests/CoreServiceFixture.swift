import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import TestSupport

/// Every store on MemoryStorage (the backend that passes the same store contract as SQLite and PostgreSQL), for
/// tests of the core's services, with a fixed clock.
struct CoreServiceFixture {
    static let issuer = "https://as.example"
    static let redirect = "https://tpp.example/cb"

    let directory: TestPKI
    let storage: Storage
    let clock = FixedClock(Date(timeIntervalSince1970: 1_800_000_000))

    init(_ name: String) throws {
        directory = try TestPKI(name: name)
        storage = Storage.memory()
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
