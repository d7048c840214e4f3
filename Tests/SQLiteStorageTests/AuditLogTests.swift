import AuthorizationServer
import Foundation
import OpenSSLKit
import SQLiteStorage
import TestSupport
import Testing
import JOSE

@Suite("Audit log over SQLite")
struct AuditLogTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func open() throws -> (SQLiteDatabase, TestPKI) {
        let directory = try TestPKI(name: "audit-db")
        let database = try SQLiteDatabase(path: directory.path("fapid.sqlite"))
        try SQLiteMigrator(directory: SQLiteMigratorTests.repositoryMigrations).migrate(database)
        return (database, directory)
    }

    func client(_ id: String) throws -> Client {
        try Client(
            clientID: id,
            metadata: [
                "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp,O=TPP,C=GB",
                "grant_types": ["client_credentials"], "scope": "accounts", "org_id": "org-1",
            ],
            createdAt: t0)
    }

    @Test("events are chained, and a change that fails leaves no audit row behind")
    func chainAndAtomicity() async throws {
        let (database, keep) = try Self.open()
        _ = keep
        let clients = SQLiteClientStore(database: database)
        let log = SQLiteAuditLog(database: database)
        let first = try client("c1")
        try await clients.insertClient(first, audit: AuditEvent(.clientRegistered, at: t0, client: first))
        // A duplicate insert fails: its event must not be appended.
        await #expect(throws: StorageError.self) {
            try await clients.insertClient(first, audit: AuditEvent(.clientRegistered, at: self.t0, client: first, reason: "duplicate"))
        }
        // Removing an unknown client changes nothing and records nothing.
        #expect(try await clients.removeClient(id: "nobody", at: t0, audit: AuditEvent(.clientDeleted, at: t0, clientID: "nobody")) == false)
        try await log.append(AuditEvent(.clientAuthenticationFailed, at: t0, clientID: "c1", outcome: .failure, reason: "unknown_client"))

        let rows = try await log.rows(after: 0)
        #expect(rows.map(\.seq) == [1, 2])
        #expect(rows[0].values["type"] == "client.registered" && rows[0].values["org_id"] == "org-1")
        #expect(rows[0].values["time"] == "2027-01-15T08:00:00.000Z")
        #expect(rows[0].previousHash == AuditChain.genesis && rows[1].previousHash == rows[0].hash)
        #expect(AuditChain.verify(rows: rows, head: try await log.head()) == nil)
    }

    @Test("the interaction id and source come from the request's task-local context")
    func context() async throws {
        let (database, keep) = try Self.open()
        _ = keep
        let log = SQLiteAuditLog(database: database)
        try await AuditContext.$current.withValue(AuditContext(interactionID: "f0e1d2c3-0000-4000-8000-000000000000", source: "192.0.2.7")) {
            try await log.append(AuditEvent(.consentDenied, at: t0, clientID: "c", user: "alice", outcome: .failure))
        }
        let row = try #require(try await log.rows(after: 0).first)
        #expect(row.values["interaction_id"] == "f0e1d2c3-0000-4000-8000-000000000000" && row.values["source"] == "192.0.2.7")
    }
}

@Suite("Audit chain verification")
struct AuditChainTests {
    func chain(_ count: Int) -> [AuditChain.Row] {
        var rows: [AuditChain.Row] = []
        var previous = AuditChain.genesis
        for seq in 1...Int64(count) {
            let values = ["time": "2026-11-26T10:00:0\(seq % 10).000Z", "type": "token.issued", "client_id": "c\(seq)", "outcome": "success"]
            let hash = AuditChain.hash(seq: seq, values: values, previousHash: previous)
            rows.append(AuditChain.Row(seq: seq, values: values, previousHash: previous, hash: hash))
            previous = hash
        }
        return rows
    }

    @Test("the hash follows the documented encoding")
    func vector() {
        let values = ["time": "2026-11-26T10:00:00.000Z", "type": "token.issued", "outcome": "success", "reason": "ü"]
        let text = "fapid-audit-v1\n1:1\n24:2026-11-26T10:00:00.000Z\n12:token.issued\n-\n-\n-\n-\n-\n-\n7:success\n2:ü\n" + AuditChain.genesis
        #expect(AuditChain.hash(seq: 1, values: values, previousHash: AuditChain.genesis) == Crypto.hex(Crypto.sha256(text)))
    }

    @Test("an intact chain verifies; each kind of damage names its row")
    func damage() {
        let rows = chain(6)
        let head = (seq: rows.last!.seq, hash: rows.last!.hash)
        #expect(AuditChain.verify(rows: rows, head: head) == nil)

        var changed = rows
        changed[2].values["client_id"] = "other"
        #expect(AuditChain.verify(rows: changed, head: head)?.seq == 3)

        var removed = rows
        removed.remove(at: 3)
        #expect(AuditChain.verify(rows: removed, head: head)?.seq == 4)

        #expect(AuditChain.verify(rows: Array(rows.dropLast()), head: head)?.seq == 6)
        #expect(AuditChain.verify(rows: Array(rows.dropFirst()), head: head)?.seq == 1)

        var swapped = rows
        swapped.swapAt(1, 2)
        (swapped[1].seq, swapped[2].seq) = (2, 3)
        #expect(AuditChain.verify(rows: swapped, head: head)?.seq == 2)

        #expect(AuditChain.verify(rows: rows, head: nil)?.seq == 6)
    }
}

@Suite("Group commit")
struct GroupCommitTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("concurrent writes share transactions, a failing one is undone alone, and the audit chain stays whole")
    func concurrentWrites() async throws {
        let (database, keep) = try AuditLogTests.open()
        _ = keep
        let clients = SQLiteClientStore(database: database)
        let log = SQLiteAuditLog(database: database)
        let ids = (0..<40).map { "client-\($0 % 39)" }  // one id twice: exactly one of its inserts must fail
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for id in ids {
                group.addTask {
                    guard let client = try? Client(
                        clientID: id,
                        metadata: [
                            "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp,O=TPP,C=GB",
                            "grant_types": ["client_credentials"], "scope": "accounts",
                        ],
                        createdAt: self.t0)
                    else { return false }
                    do {
                        try await clients.insertClient(client, audit: AuditEvent(.clientRegistered, at: self.t0, client: client))
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var results: [Bool] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(outcomes.filter { $0 }.count == 39)
        #expect(try await clients.clients().count == 39)
        let rows = try await log.rows(after: 0)
        #expect(rows.count == 39)
        #expect(AuditChain.verify(rows: rows, head: try await log.head()) == nil)
        let statistics = database.commitStatistics
        #expect(statistics.writes == 40 && statistics.commits <= 40)
    }
}
