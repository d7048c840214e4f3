import AuthorizationServer
import Foundation
import GRDB
import SQLiteStorage
import TestSupport
import Testing

@Suite("SQLiteCIBAStore")
struct SQLiteCIBAStoreTests {
    @Test("an idle notification round does not wait for the write lock another process holds")
    func idleClaimTakesNoWriteLock() async throws {
        let directory = try TestPKI(name: "ciba-claim")
        let path = directory.path("fapid.sqlite")
        let database = try SQLiteDatabase(path: path, busyTimeout: 2)
        try SQLiteMigrator(directory: SQLiteMigratorTests.repositoryMigrations).migrate(database)
        let store = SQLiteCIBAStore(database: database)

        // Another process's exclusive transaction (as `sqlite3` or a backup tool would hold it).
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let other = try DatabaseQueue(path: path, configuration: configuration)
        try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
        let clock = ContinuousClock()
        let started = clock.now
        let claimed = try await store.claimCIBANotifications(now: Date(), lease: 30, limit: 10)
        let took = clock.now - started
        try await other.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }

        #expect(claimed.isEmpty)
        // Before: the round opened a write transaction and waited the whole busy timeout (2 s) for nothing.
        #expect(took < .seconds(1))
    }
}
