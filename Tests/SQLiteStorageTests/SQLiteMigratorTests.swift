import AuthorizationServer
import Foundation
import SQLiteStorage
import TestSupport
import Testing

@Suite("SQLiteMigrator")
struct SQLiteMigratorTests {
    static let repositoryMigrations = Shell.repositoryRoot.appendingPathComponent("migrations/sqlite")

    func freshDatabase() throws -> (SQLiteDatabase, TestPKI) {
        let directory = try TestPKI(name: "db")
        return (try SQLiteDatabase(path: directory.path("nested/fapid.sqlite")), directory)
    }

    @Test("the repository's migrations apply in order, once, in WAL mode")
    func appliesRepositoryMigrations() throws {
        let (database, keep) = try freshDatabase()
        _ = keep
        let migrator = try SQLiteMigrator(directory: Self.repositoryMigrations)
        let applied = try migrator.migrate(database)
        #expect(applied == migrator.migrations.map(\.version))
        #expect(applied.first == "0001_init")
        #expect(try migrator.appliedVersions(database) == applied)
        #expect(try migrator.migrate(database).isEmpty)
        #expect(try database.journalMode() == "wal")
    }

    @Test("a failing migration leaves the database as it was, and later ones are not applied")
    func failureRollsBack() throws {
        let (database, keep) = try freshDatabase()
        _ = keep
        let migrator = SQLiteMigrator(migrations: [
            .init(version: "0001_a", sql: "CREATE TABLE a (x INTEGER);"),
            .init(version: "0002_b", sql: "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1); CREATE TABLE broken (;"),
            .init(version: "0003_c", sql: "CREATE TABLE c (x INTEGER);"),
        ])
        let error = #expect(throws: StorageError.self) { try migrator.migrate(database) }
        #expect(error?.code == .migration)
        #expect(error?.detail.contains("0002_b") == true)
        #expect(try migrator.appliedVersions(database) == ["0001_a"])
        // Nothing of 0002 survived: table b is absent and a is empty, so 0002 can run again once fixed.
        let fixed = SQLiteMigrator(migrations: [
            migrator.migrations[0],
            .init(version: "0002_b", sql: "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);"),
        ])
        #expect(try fixed.migrate(database) == ["0002_b"])
    }

    @Test("an applied migration edited afterwards, or one unknown to this build, stops the run")
    func driftIsDetected() throws {
        let (database, keep) = try freshDatabase()
        _ = keep
        let original = SQLiteMigrator(migrations: [.init(version: "0001_a", sql: "CREATE TABLE a (x INTEGER);")])
        try original.migrate(database)
        let edited = SQLiteMigrator(migrations: [.init(version: "0001_a", sql: "CREATE TABLE a (x TEXT);")])
        #expect((#expect(throws: StorageError.self) { try edited.migrate(database) })?.detail.contains("edited") == true)
        let older = SQLiteMigrator(migrations: [.init(version: "0000_z", sql: "SELECT 1;")])
        #expect((#expect(throws: StorageError.self) { try older.migrate(database) })?.detail.contains("newer") == true)
    }

    @Test("migration files must be named NNNN_name.sql")
    func fileNames() throws {
        let directory = try TestPKI(name: "migrations")
        try "SELECT 1;".write(toFile: directory.path("1_bad.sql"), atomically: true, encoding: .utf8)
        #expect(throws: StorageError.self) { try SQLiteMigrator(directory: directory.directory) }
    }
}
