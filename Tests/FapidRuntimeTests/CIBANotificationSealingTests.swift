import AuthorizationServer
import FapidRuntime
import Foundation
import OpenSSLKit
import SQLiteStorage
import TestSupport
import Testing

@Suite("CIBANotificationSealer")
struct CIBANotificationSealingTests {
    let directory: TestPKI
    let database: SQLiteDatabase
    let t0 = Date()

    init() throws {
        directory = try TestPKI(name: "ciba-sealing")
        database = try SQLiteDatabase(path: directory.path("fapid.sqlite"))
        try SQLiteMigrator(directory: Shell.repositoryRoot.appendingPathComponent("migrations/sqlite")).migrate(database)
    }

    static let authReqID = "auth-req-id-PLAINTEXT-7f3a9c"
    static let token = "notification-token-PLAINTEXT-51bd2e"

    func request(_ id: String) -> CIBARequest {
        CIBARequest(
            id: id, authReqIDHash: Crypto.sha256(Self.authReqID + id), clientID: "c1", username: "alice", scope: "openid accounts",
            bindingMessage: "W4SCT", acr: nil, deliveryMode: "ping", notificationToken: Self.token + id, createdAt: t0,
            expiresAt: t0.addingTimeInterval(300), interval: 5, pingAuthReqID: Self.authReqID + id)
    }

    /// Every byte SQLite wrote for the database: the main file and its write-ahead log.
    func storedBytes() throws -> [UInt8] {
        try [directory.path("fapid.sqlite"), directory.path("fapid.sqlite-wal")].flatMap { path in
            FileManager.default.fileExists(atPath: path) ? [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) : []
        }
    }

    func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let bytes = Array(needle.utf8)
        guard haystack.count >= bytes.count else { return false }
        return (0...(haystack.count - bytes.count)).contains { start in haystack[start..<(start + bytes.count)].elementsEqual(bytes) }
    }

    @Test("the ping auth_req_id and notification token are stored sealed, and come back only with the same key")
    func sealedAtRest() async throws {
        let sealer = try CIBANotificationSealer(key: Crypto.randomBytes(32))
        let store = SQLiteCIBAStore(database: database, sealer: sealer)
        try await store.insertCIBARequest(request("r1"), audit: nil)
        #expect(try await store.decideCIBARequest(id: "r1", approve: true, by: "staff", now: t0))

        // Nowhere in the files: neither the plaintext columns nor anything else hold them.
        let bytes = try storedBytes()
        #expect(!bytes.isEmpty)
        #expect(!contains(bytes, Self.authReqID) && !contains(bytes, Self.token))

        // A store without the key (or with another) reads no secrets; with the key, the exact ones.
        let stranger = SQLiteCIBAStore(database: database, sealer: try CIBANotificationSealer(key: Crypto.randomBytes(32)))
        let claimedByStranger = try await stranger.claimCIBANotifications(now: t0, lease: 0, limit: 10)
        #expect(claimedByStranger.map(\.id) == ["r1"])
        #expect(claimedByStranger.first?.pingAuthReqID == nil && claimedByStranger.first?.notificationToken == nil)
        let unsealed = try await SQLiteCIBAStore(database: database).claimCIBANotifications(now: t0, lease: 0, limit: 10)
        #expect(unsealed.first?.pingAuthReqID == nil && unsealed.first?.notificationToken == nil)
        let claimed = try await store.claimCIBANotifications(now: t0, lease: 30, limit: 10)
        #expect(claimed.first?.pingAuthReqID == Self.authReqID + "r1" && claimed.first?.notificationToken == Self.token + "r1")
    }

    @Test("a sealed box is bound to its request: copied to another id it does not open")
    func boundToRequest() throws {
        let sealer = try CIBANotificationSealer(key: Crypto.randomBytes(32))
        let secrets = CIBANotificationSealer.Secrets(authReqID: "a", notificationToken: "t")
        let box = try sealer.seal(secrets, requestID: "r1")
        #expect(sealer.open(box, requestID: "r1") == secrets)
        #expect(sealer.open(box, requestID: "r2") == nil)
        #expect(throws: StorageError.self) { _ = try CIBANotificationSealer(key: [1, 2, 3]) }
    }

    @Test("without a key encryption key the daemon's own key file is made 0600 once and reused")
    func keyFile() throws {
        var configuration = FapidConfiguration.defaults
        configuration.keysDirectory = directory.path("keys")
        try FileManager.default.createDirectory(atPath: configuration.keysDirectory, withIntermediateDirectories: true)
        let first = try CIBANotificationKey.sealer(configuration)
        let path = directory.path("keys/\(CIBANotificationKey.fileName)")
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        let box = try first.seal(.init(authReqID: "a", notificationToken: "t"), requestID: "r")
        #expect(try CIBANotificationKey.sealer(configuration).open(box, requestID: "r") != nil)

        // With a key encryption key: a key derived from it, not the file's, and not the key encryption key itself.
        let kek = directory.path("kek.hex")
        try PrivateKeyFile.write(Crypto.hex(Crypto.randomBytes(32)), to: kek)
        configuration.keyEncryptionKeyFile = kek
        let derived = try CIBANotificationKey.sealer(configuration)
        #expect(derived.open(box, requestID: "r") == nil)
        let fromKEK = try derived.seal(.init(authReqID: "a", notificationToken: "t"), requestID: "r")
        #expect(try CIBANotificationKey.sealer(configuration).open(fromKEK, requestID: "r") != nil)
        let raw = try CIBANotificationSealer(key: try SigningKeyManager.readKeyEncryptionKey(kek))
        #expect(raw.open(fromKEK, requestID: "r") == nil)
    }
}
