public import AuthorizationServer
public import Foundation
public import Logging
public import SQLiteStorage

/// What both executables open first: the configuration's database, migrated, and the signing-key manager.
public struct Runtime: Sendable {
    public let configuration: FapidConfiguration
    public let database: SQLiteDatabase
    public let signingKeys: SigningKeyManager
    public let clients: SQLiteClientStore
    public let tokens: SQLiteTokenStore

    /// Opens the database and applies pending migrations (each in its own transaction).
    /// The daemon passes `backgroundCheckpoints` and runs a `WALCheckpointer`; `fapictl` does not.
    public static func open(_ configuration: FapidConfiguration, logger: Logger, backgroundCheckpoints: Bool = false) throws -> Runtime {
        let database = try SQLiteDatabase(path: configuration.database, backgroundCheckpoints: backgroundCheckpoints)
        let migrator = try SQLiteMigrator(directory: URL(fileURLWithPath: configuration.migrationsDirectory))
        let applied = try migrator.migrate(database)
        for version in applied { logger.notice("applied migration", metadata: ["version": "\(version)"]) }
        let manager = SigningKeyManager(
            store: SQLiteSigningKeyStore(database: database),
            keysDirectory: configuration.keysDirectory,
            retiredPublishSeconds: configuration.retiredKeyPublishSeconds
        )
        return Runtime(
            configuration: configuration, database: database, signingKeys: manager,
            clients: SQLiteClientStore(database: database), tokens: SQLiteTokenStore(database: database)
        )
    }

    public static func logger(_ label: String, level: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: level) ?? .info
        return logger
    }
}

/// The operating-system user running this process, named in audit events of admin commands.
public enum OperatingSystemUser {
    public static var name: String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(geteuid())"
    }
}
