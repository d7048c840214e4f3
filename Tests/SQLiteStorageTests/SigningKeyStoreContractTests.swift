import AuthorizationServer
import Foundation
import JOSE
import SQLiteStorage
import MemoryStorage
import TestSupport
import Testing

/// The `SigningKeyStore` contract, run against every backend: SQLite and the in-memory twin.
@Suite("SigningKeyStore contract")
struct SigningKeyStoreContractTests {
    enum Backend: String, CaseIterable, Sendable { case sqlite, memory }

    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func makeStore(_ backend: Backend) throws -> (any SigningKeyStore, TestPKI) {
        let directory = try TestPKI(name: "keys-db")
        switch backend {
        case .memory:
            return (MemorySigningKeyStore(), directory)
        case .sqlite:
            let database = try SQLiteDatabase(path: directory.path("fapid.sqlite"))
            try SQLiteMigrator(directory: SQLiteMigratorTests.repositoryMigrations).migrate(database)
            return (SQLiteSigningKeyStore(database: database), directory)
        }
    }

    func record(_ kid: String, _ algorithm: JWSAlgorithm, at date: Date) -> SigningKeyRecord {
        SigningKeyRecord(kid: kid, algorithm: algorithm, keyFile: "signing/\(kid).key", createdAt: date)
    }

    @Test("inserted records come back oldest first, with their fields", arguments: Backend.allCases)
    func roundTrip(backend: Backend) async throws {
        let (store, keep) = try Self.makeStore(backend)
        _ = keep
        try await store.insertSigningKey(record("ps", .PS256, at: t0), audit: nil)
        try await store.insertSigningKey(record("es", .ES256, at: t0.addingTimeInterval(1)), audit: nil)
        let records = try await store.signingKeys()
        #expect(records == [record("ps", .PS256, at: t0), record("es", .ES256, at: t0.addingTimeInterval(1))])
    }

    @Test("a duplicate kid, or a second active key for an algorithm, is a conflict", arguments: Backend.allCases)
    func conflicts(backend: Backend) async throws {
        let (store, keep) = try Self.makeStore(backend)
        _ = keep
        try await store.insertSigningKey(record("ps", .PS256, at: t0), audit: nil)
        let duplicate = await #expect(throws: StorageError.self) { try await store.insertSigningKey(record("ps", .ES256, at: t0), audit: nil) }
        #expect(duplicate?.code == .conflict)
        let secondActive = await #expect(throws: StorageError.self) { try await store.insertSigningKey(record("ps2", .PS256, at: t0), audit: nil) }
        #expect(secondActive?.code == .conflict)
    }

    @Test("rotation retires the active key of that algorithm only, atomically", arguments: Backend.allCases)
    func rotation(backend: Backend) async throws {
        let (store, keep) = try Self.makeStore(backend)
        _ = keep
        try await store.insertSigningKey(record("ps", .PS256, at: t0), audit: nil)
        try await store.insertSigningKey(record("es", .ES256, at: t0), audit: nil)
        let later = t0.addingTimeInterval(100)
        try await store.rotateSigningKey(to: record("es2", .ES256, at: later), at: later, publishUntil: later.addingTimeInterval(3600), audit: nil)
        let records = try await store.signingKeys()
        let byKid = Dictionary(uniqueKeysWithValues: records.map { ($0.kid, $0) })
        #expect(byKid["ps"]?.state(at: later) == .active)
        #expect(byKid["es"]?.state(at: later) == .retiring)
        #expect(byKid["es"]?.publishUntil == later.addingTimeInterval(3600))
        #expect(byKid["es2"]?.state(at: later) == .active)
        #expect(byKid["es"]?.state(at: later.addingTimeInterval(3601)) == .removed)

        // A rotation whose insert fails (duplicate kid) must not leave the old key retired.
        let failed = await #expect(throws: StorageError.self) {
            try await store.rotateSigningKey(to: record("ps", .PS256, at: later), at: later, publishUntil: later, audit: nil)
        }
        #expect(failed?.code == .conflict)
        #expect(try await store.signingKeys().first { $0.kid == "ps" }?.retiredAt == nil)
    }
}
