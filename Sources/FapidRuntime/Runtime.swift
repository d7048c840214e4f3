public import AuthorizationServer
public import CertificateStatus
import Foundation
public import Logging
public import MemoryStorage
public import PostgresStorage
public import SQLiteStorage

/// Every store of the core on one backend: the embedded SQLite file (one instance), a PostgreSQL
/// database shared by several instances, or memory (tests: `Storage.memory()`).
public struct Storage: Sendable {
    public enum Backend: Sendable {
        case sqlite(SQLiteDatabase)
        case postgres(PostgresDatabase)
        case memory(MemoryDatabase)
    }

    public let backend: Backend
    public let clients: any ClientStore & ResourceServerStore
    public let tokens: any TokenStore & ReplayStore & ExpiredRowSweeper
    public let codes: any AuthorizationCodeStore
    public let pushed: any PushedRequestStore
    public let ciba: any CIBAStore
    public let registrations: any RegistrationStore
    public let users: any UserStore
    public let signingKeys: any SigningKeyStore
    public let statusCache: any StatusCacheStore
    public let audit: any AuditLogReader
    public let interactions: any InteractionStore
    public let signInAttempts: any SignInAttemptStore
    public let consents: any ConsentStore

    /// `cibaSealer`: seals CIBA ping/push secrets until delivery (the daemon's `CIBANotificationKey`).
    public init(sqlite database: SQLiteDatabase, cibaSealer: CIBANotificationSealer? = nil) {
        backend = .sqlite(database)
        clients = SQLiteClientStore(database: database)
        tokens = SQLiteTokenStore(database: database)
        codes = SQLiteCodeStore(database: database)
        pushed = SQLitePushedRequestStore(database: database)
        ciba = SQLiteCIBAStore(database: database, sealer: cibaSealer)
        registrations = SQLiteRegistrationStore(database: database)
        users = SQLiteUserStore(database: database)
        signingKeys = SQLiteSigningKeyStore(database: database)
        statusCache = SQLiteStatusCacheStore(database: database)
        audit = SQLiteAuditLog(database: database)
        interactions = SQLiteInteractionStore(database: database)
        signInAttempts = SQLiteSignInAttemptStore(database: database)
        consents = SQLiteConsentStore(database: database)
    }

    public init(postgres database: PostgresDatabase, cibaSealer: CIBANotificationSealer? = nil) {
        backend = .postgres(database)
        clients = PostgresClientStore(database: database)
        tokens = PostgresTokenStore(database: database)
        codes = PostgresCodeStore(database: database)
        pushed = PostgresPushedRequestStore(database: database)
        ciba = PostgresCIBAStore(database: database, sealer: cibaSealer)
        registrations = PostgresRegistrationStore(database: database)
        users = PostgresUserStore(database: database)
        signingKeys = PostgresSigningKeyStore(database: database)
        statusCache = PostgresStatusCacheStore(database: database)
        audit = PostgresAuditLog(database: database)
        interactions = PostgresInteractionStore(database: database)
        signInAttempts = PostgresSignInAttemptStore(database: database)
        consents = PostgresConsentStore(database: database)
    }

    /// The stores of `memory`, which keeps nothing beyond the process (no sealer: nothing is written out).
    public init(memory: MemoryStorage) {
        backend = .memory(memory.database)
        clients = memory.clients
        tokens = memory.tokens
        codes = memory.codes
        pushed = memory.pushed
        ciba = memory.ciba
        registrations = memory.registrations
        users = memory.users
        signingKeys = memory.signingKeys
        statusCache = memory.statusCache
        audit = memory.audit
        interactions = memory.interactions
        signInAttempts = memory.signInAttempts
        consents = memory.consents
    }

    /// A fresh, empty in-memory storage.
    public static func memory() -> Storage { Storage(memory: MemoryStorage()) }

    /// Opens the configured backend and applies pending migrations from `migrations_dir/<backend>/`, each in
    /// its own transaction; with PostgreSQL under an advisory lock, so instances starting at once take turns.
    public static func open(
        _ configuration: FapidConfiguration, logger: Logger, backgroundCheckpoints: Bool = false, cibaSealer: CIBANotificationSealer? = nil
    ) async throws -> Storage {
        let directory = URL(fileURLWithPath: configuration.migrationsDirectory).appendingPathComponent(configuration.storage.rawValue)
        let applied: [String]
        let storage: Storage
        switch configuration.storage {
        case .postgres:
            guard let url = configuration.databaseURL else { throw StorageError(.unavailable, "storage postgres needs database_url") }
            let database = try PostgresDatabase(
                url: url, maximumConnections: configuration.databaseMaxConnections, timeout: .seconds(configuration.databaseTimeoutSeconds),
                logger: logger)
            applied = try await PostgresMigrator(directory: directory).migrate(database)
            storage = Storage(postgres: database, cibaSealer: cibaSealer)
        case .sqlite:
            let database = try SQLiteDatabase(path: configuration.database, backgroundCheckpoints: backgroundCheckpoints)
            applied = try SQLiteMigrator(directory: directory).migrate(database)
            storage = Storage(sqlite: database, cibaSealer: cibaSealer)
        }
        for version in applied { logger.notice("applied migration", metadata: ["version": "\(version)"]) }
        return storage
    }

    /// Whether the database answers a trivial query (for `/healthz`).
    public func isAnswering() async -> Bool {
        switch backend {
        case .sqlite(let database): await database.isAnswering()
        case .postgres(let database): await database.isAnswering()
        case .memory: true
        }
    }

    /// Where the data lives, for logs: the SQLite path or the URL without its password.
    public var location: String {
        switch backend {
        case .sqlite(let database): database.path
        case .postgres(let database): database.redactedURL
        case .memory: "memory"
        }
    }
}

/// What both executables open first: the configuration's storage, migrated, and the signing-key manager.
public struct Runtime: Sendable {
    public let configuration: FapidConfiguration
    public let storage: Storage
    public let signingKeys: SigningKeyManager

    public var clients: any ClientStore & ResourceServerStore { storage.clients }
    public var tokens: any TokenStore & ReplayStore & ExpiredRowSweeper { storage.tokens }

    /// The daemon passes `backgroundCheckpoints` and runs a `WALCheckpointer` (SQLite); `fapictl` does not.
    /// The daemon passes `sealCIBANotifications` (it sends ping/push notifications; `fapictl` never does).
    public static func open(
        _ configuration: FapidConfiguration, logger: Logger, backgroundCheckpoints: Bool = false, sealCIBANotifications: Bool = false
    ) async throws -> Runtime {
        let sealer = try sealCIBANotifications ? CIBANotificationKey.sealer(configuration) : nil
        let storage = try await Storage.open(configuration, logger: logger, backgroundCheckpoints: backgroundCheckpoints, cibaSealer: sealer)
        let manager = try SigningKeyManager(configuration: configuration, store: storage.signingKeys)
        return Runtime(configuration: configuration, storage: storage, signingKeys: manager)
    }

    public static func logger(_ label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = level
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
