import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import Logging
import OpenSSLKit
import SQLiteStorage
import TestSupport
import Testing

/// `fapictl keys generate --pkcs11` and `keys import --pkcs11`, and the health probes of token keys, against the test
/// process's one SoftHSM2 token (skipped without softhsm2).
@Suite("SigningKeyManager with keys in a PKCS#11 token (SoftHSM2)", .serialized, .enabled(if: SoftHSM.shared != nil, "softhsm2 is not installed"))
struct SigningKeyManagerPKCS11Tests {
    let token = try! #require(SoftHSM.shared)
    let directory: TestPKI
    let manager: SigningKeyManager
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let tokenURI = PKCS11URI(token: SoftHSM.tokenLabel)

    init() throws {
        directory = try TestPKI(name: "signing-pkcs11")
        let database = try SQLiteDatabase(path: directory.path("fapid.sqlite"))
        try SQLiteMigrator(directory: Shell.repositoryRoot.appendingPathComponent("migrations/sqlite")).migrate(database)
        manager = SigningKeyManager(
            store: SQLiteSigningKeyStore(database: database), keysDirectory: directory.path("keys"), retiredPublishSeconds: 600,
            publishAheadSeconds: 900, pkcs11: .init(module: try #require(SoftHSM.shared).module, pin: SoftHSM.pin))
    }

    /// A key pair made in the token by someone else (as softhsm2-util or an HSM's own tool would).
    func foreignKey(_ kind: AsymmetricKey.Kind, label: String) throws -> PKCS11URI {
        let made = try PKCS11Token.generateKeyPair(
            module: token.module, token: tokenURI, pin: SoftHSM.pin, kind: kind, id: Crypto.randomBytes(8), label: label)
        return PKCS11URI(token: made.token, id: made.id)
    }

    @Test("generate makes an active key inside the token for each algorithm without one; no key file is written; the keys sign")
    func generate() async throws {
        let named = await #expect(throws: PrivateKeyFile.Failure.self) {
            try await manager.generateTokenKeys([.ES256], in: PKCS11URI(token: SoftHSM.tokenLabel, object: "x"), now: t0)
        }
        #expect(named?.description.contains("give only the token") == true)
        let added = try await manager.generateTokenKeys([.PS256, .ES256], in: tokenURI, now: t0)
        #expect(added.map(\.algorithm) == [.PS256, .ES256])
        for record in added {
            #expect(record.location == .pkcs11 && record.state(at: t0) == .active)
            let uri = try PKCS11URI(parsing: record.keyFile)
            #expect(uri.token == SoftHSM.tokenLabel && uri.id?.count == 16 && uri.type == "private")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("keys")))
        #expect(try await manager.generateTokenKeys([.PS256, .ES256], in: tokenURI, now: t0).isEmpty)
        let ring = KeyRing(clock: FixedClock(t0))
        try await manager.reload(ring, now: t0)
        for algorithm in [JWSAlgorithm.PS256, .ES256] {
            let signer = try #require(ring.signer(for: algorithm))
            #expect(signer.isInToken)
            let jws = try await signer.sign(claims: ["n": 1])
            #expect(try CompactJWS(jws).verify(with: try JWKSet(json: ring.snapshot.jwksDocument), allowed: [algorithm]).kid == signer.kid)
        }
    }

    @Test("import: active when the algorithm has no key; staged as next (publish-ahead, the old key retires then) otherwise; --now at once; a stored kid is refused")
    func importKeys() async throws {
        let rsa = try await manager.importTokenKey(try foreignKey(.rsa(bits: 2048), label: "imported-rsa"), now: t0, immediately: false)
        #expect(rsa.algorithm == .PS256 && rsa.state(at: t0) == .active && rsa.activatesAt == nil)

        let current = try #require(try await manager.ensureActiveKeys(for: [.ES256], generate: true, now: t0).first)
        let staged = try await manager.importTokenKey(try foreignKey(.p256, label: "imported-ec"), now: t0, immediately: false)
        let activation = t0.addingTimeInterval(900)
        #expect(staged.algorithm == .ES256 && staged.state(at: t0) == .next && staged.activatesAt == activation)
        let records = try await manager.store.signingKeys()
        let old = try #require(records.first { $0.kid == current.kid })
        #expect(old.retiredAt == activation && old.publishUntil == activation.addingTimeInterval(600))
        let ring = KeyRing(clock: FixedClock(t0))
        try await manager.reload(ring, now: t0)
        #expect(ring.signer(for: .ES256)?.kid == current.kid)
        #expect(ring.snapshot.published.contains { $0.kid == staged.kid })
        #expect(ring.snapshot.signer(for: .ES256, at: activation)?.kid == staged.kid)

        let again = await #expect(throws: PrivateKeyFile.Failure.self) {
            try await manager.importTokenKey(try PKCS11URI(parsing: staged.keyFile), now: t0, immediately: true)
        }
        #expect(again?.description.contains("stored already") == true)

        let later = t0.addingTimeInterval(60)
        let urgent = try await manager.importTokenKey(try foreignKey(.p256, label: "imported-now"), now: later, immediately: true)
        #expect(urgent.state(at: later) == .active)
        try await manager.reload(ring, now: later)
        #expect(ring.snapshot.signer(for: .ES256, at: later)?.kid == urgent.kid)
    }

    @Test("a token key that does not answer in time counts as failing (kept loaded); at most one probe per key waits; it recovers")
    func healthProbes() async throws {
        let ring = KeyRing(clock: FixedClock(t0), pool: SigningPool(threads: 1, queueLimit: 8))
        let added = try await manager.generateTokenKeys([.ES256], in: tokenURI, now: t0)
        let kid = try #require(added.first?.kid)
        try await manager.reload(ring, now: t0)
        let monitor = SigningKeyHealthMonitor(
            ring: ring, clock: FixedClock(t0), interval: .seconds(30), timeout: .milliseconds(300), logger: Logger(label: "test"))
        await monitor.check()
        #expect(ring.health.failing(among: [kid]).isEmpty)

        // The token stops answering: its one session is held.
        let gate = DispatchSemaphore(value: 0)
        let entered = LoadCount()
        let held = Task {
            await ring.pool.run { () throws(JOSEError) -> Int in
                entered.add("held")
                gate.wait()
                return 0
            }
        }
        for _ in 0..<400 where entered.kids.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        await monitor.check()
        #expect(ring.health.failing(among: [kid]) == [kid])
        #expect(ring.pool.waiting == 1)
        await monitor.check()
        #expect(ring.pool.waiting == 1, "a second probe of a key whose first has not returned is not queued")
        // At start-up the same key stops the daemon, named with its URI.
        let refusal = await #expect(throws: PrivateKeyFile.Failure.self) {
            try await SigningKeyProbe.requireSigning(ring, now: t0, timeout: .milliseconds(200))
        }
        #expect(refusal?.description.contains(kid) == true && refusal?.description.contains("pkcs11:token=\(SoftHSM.tokenLabel)") == true)
        #expect(refusal?.description.contains(SoftHSM.pin) == false)
        // A probe that only timed out keeps the key loaded: a reload would wait on the same token.
        let loads = LoadCount()
        let records = try await manager.store.signingKeys()
        ring.reload(records: records, now: t0) { record in
            loads.add(record.kid)
            return try manager.load(record)
        }
        #expect(loads.kids.isEmpty)

        gate.signal()
        _ = await held.value
        for _ in 0..<200 where ring.pool.waiting > 0 { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        await monitor.check()
        #expect(ring.health.failing(among: [kid]).isEmpty)
    }
}

/// Names noted from any thread.
private final class LoadCount: @unchecked Sendable {
    private let lock = NSLock()
    private var loaded: [String] = []
    func add(_ kid: String) { lock.withLock { loaded.append(kid) } }
    var kids: [String] { lock.withLock { loaded } }
}

@Suite("pkcs11_sessions")
struct PKCS11SessionsSettingTests {
    @Test("sizes the signing pool: 4 threads by default, FAPID_PKCS11_SESSIONS otherwise, 1 to 256")
    func sessions() throws {
        let defaults = try FapidConfiguration.load(file: nil, environment: [:])
        #expect(SigningKeyManager.signingPool(defaults).threads == 4 && SigningKeyManager.signingPool(defaults).queueLimit == 256)
        let sixteen = try FapidConfiguration.load(file: nil, environment: ["FAPID_PKCS11_SESSIONS": "16"])
        #expect(SigningKeyManager.signingPool(sixteen).threads == 16)
        for bad in ["0", "257", "many"] {
            #expect(throws: ConfigurationError.self) { try FapidConfiguration.load(file: nil, environment: ["FAPID_PKCS11_SESSIONS": bad]) }
        }
    }
}
