/// Every store of the core in memory, over one `MemoryDatabase`: the third backend of the store contract
/// suite, and the storage of core tests (`let storage = MemoryStorage()`). Each store is a view of the one
/// database, so changes through one are seen by all, as with a SQL backend's stores.
public struct MemoryStorage: Sendable {
    public let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public var clients: MemoryClientStore { MemoryClientStore(database: database) }
    public var tokens: MemoryTokenStore { MemoryTokenStore(database: database) }
    public var codes: MemoryCodeStore { MemoryCodeStore(database: database) }
    public var pushed: MemoryPushedRequestStore { MemoryPushedRequestStore(database: database) }
    public var ciba: MemoryCIBAStore { MemoryCIBAStore(database: database) }
    public var registrations: MemoryRegistrationStore { MemoryRegistrationStore(database: database) }
    public var users: MemoryUserStore { MemoryUserStore(database: database) }
    public var signingKeys: MemorySigningKeyStore { MemorySigningKeyStore(database: database) }
    public var statusCache: MemoryStatusCacheStore { MemoryStatusCacheStore(database: database) }
    public var audit: MemoryAuditLog { MemoryAuditLog(database: database) }
    public var interactions: MemoryInteractionStore { MemoryInteractionStore(database: database) }
    public var signInAttempts: MemorySignInAttemptStore { MemorySignInAttemptStore(database: database) }
    public var consents: MemoryConsentStore { MemoryConsentStore(database: database) }
}
