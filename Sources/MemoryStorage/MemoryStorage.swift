public import AuthorizationServer
public import CertificateStatus

/// Every store of the core in memory, over one `MemoryDatabase`: the third backend of the store contract
/// suite, and the storage of core tests (`let storage = MemoryStorage()`).
public struct MemoryStorage: Sendable {
    public let database: MemoryDatabase
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

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
        clients = MemoryClientStore(database: database)
        tokens = MemoryTokenStore(database: database)
        codes = MemoryCodeStore(database: database)
        pushed = MemoryPushedRequestStore(database: database)
        ciba = MemoryCIBAStore(database: database)
        registrations = MemoryRegistrationStore(database: database)
        users = MemoryUserStore(database: database)
        signingKeys = MemorySigningKeyStore(database: database)
        statusCache = MemoryStatusCacheStore(database: database)
        audit = MemoryAuditLog(database: database)
        interactions = MemoryInteractionStore(database: database)
        signInAttempts = MemorySignInAttemptStore(database: database)
    }
}
