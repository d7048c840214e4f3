import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit
import SQLiteStorage
import TestSupport
import Testing

@Suite("SigningKeyManager")
struct SigningKeyManagerTests {
    let directory: TestPKI
    let manager: SigningKeyManager
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    init() throws {
        directory = try TestPKI(name: "signing")
        let database = try SQLiteDatabase(path: directory.path("fapid.sqlite"))
        try SQLiteMigrator(directory: Shell.repositoryRoot.appendingPathComponent("migrations/sqlite")).migrate(database)
        manager = SigningKeyManager(store: SQLiteSigningKeyStore(database: database), keysDirectory: directory.path("keys"), retiredPublishSeconds: 600)
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    @Test("generate writes 0600 key files named by their thumbprint and makes them active")
    func generate() async throws {
        let added = try await manager.ensureActiveKeys(generate: true, now: t0)
        #expect(added.map(\.algorithm) == [.PS256, .ES256])
        for record in added {
            let path = directory.path("keys/\(record.keyFile)")
            #expect(try mode(path) == 0o600)
            #expect(try JWK.thumbprint(of: try PrivateKeyFile.load(path)) == record.kid)
        }
        #expect(try await manager.ensureActiveKeys(generate: true, now: t0).isEmpty)
    }

    @Test("without generation, a missing key is an error that says what to run")
    func missing() async throws {
        let error = await #expect(throws: PrivateKeyFile.Failure.self) { try await manager.ensureActiveKeys(generate: false, now: t0) }
        #expect(error?.description.contains("fapictl keys generate") == true)
    }

    @Test("the dev-layout files from make keys are registered as the active keys")
    func devLayout() async throws {
        try FileManager.default.createDirectory(atPath: directory.path("keys"), withIntermediateDirectories: true)
        try directory.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "keys/signing-ps256.key"])
        try directory.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "keys/signing-es256.key"])
        chmod(directory.path("keys/signing-ps256.key"), 0o600)
        chmod(directory.path("keys/signing-es256.key"), 0o600)
        let added = try await manager.ensureActiveKeys(generate: false, now: t0)
        #expect(added.map(\.keyFile) == ["signing-ps256.key", "signing-es256.key"])
    }

    @Test("a group- or world-readable key file is refused")
    func permissions() async throws {
        let record = try #require(try await manager.ensureActiveKeys(generate: true, now: t0).first)
        let path = directory.path("keys/\(record.keyFile)")
        chmod(path, 0o644)
        let error = #expect(throws: PrivateKeyFile.Failure.self) { try manager.load(record) }
        #expect(error?.description.contains("chmod 600") == true)
        let ring = KeyRing()
        await #expect(throws: PrivateKeyFile.Failure.self) { try await manager.reload(ring, now: t0) }
    }

    @Test("rotate --now: the new key signs at once, the old stays published for the grace period, then leaves /jwks")
    func rotate() async throws {
        try await manager.ensureActiveKeys(generate: true, now: t0)
        let clock = FixedClock(t0)
        let ring = KeyRing(clock: clock)
        try await manager.reload(ring, now: t0)
        let old = try #require(ring.signer(for: .ES256))
        let oldToken = try await old.sign(claims: ["n": 1])
        let later = t0.addingTimeInterval(60)
        let new = try await manager.rotate(.ES256, now: later, immediately: true)
        clock.set(later)
        try await manager.reload(ring, now: later)
        #expect(ring.signer(for: .ES256)?.kid == new.kid)
        let published = try JWKSet(json: ring.snapshot.jwksDocument)
        #expect(Set(published.keys.compactMap(\.kid)) == Set([old.kid, new.kid, ring.signer(for: .PS256)!.kid]))
        try CompactJWS(oldToken).verify(with: published, allowed: [.ES256])

        try await manager.reload(ring, now: later.addingTimeInterval(601))
        let after = try JWKSet(json: ring.snapshot.jwksDocument)
        #expect(!after.keys.contains { $0.kid == old.kid })
        #expect(throws: JOSEError.self) { try CompactJWS(oldToken).verify(with: after, allowed: [.ES256]) }
    }

    @Test("with a key encryption key, generated keys are sealed into the database, not written to files, and load back")
    func sealed() async throws {
        let kek = Crypto.randomBytes(32)
        let sealing = SigningKeyManager(store: manager.store, keysDirectory: directory.path("keys"), retiredPublishSeconds: 600, keyEncryptionKey: kek)
        let added = try await sealing.ensureActiveKeys(generate: true, now: t0)
        #expect(added.allSatisfy { $0.keyFile == SigningKeyManager.sealedKeyFile && $0.sealedKey != nil })
        #expect(!FileManager.default.fileExists(atPath: directory.path("keys/signing")))
        let rotated = try await sealing.rotate(.ES256, now: t0.addingTimeInterval(10), immediately: true)
        let ring = KeyRing(clock: FixedClock(t0.addingTimeInterval(10)))
        try await sealing.reload(ring, now: t0.addingTimeInterval(10))
        #expect(ring.signer(for: .ES256)?.kid == rotated.kid)
        // Another key, or none, cannot load them.
        let other = SigningKeyManager(store: manager.store, keysDirectory: directory.path("keys"), keyEncryptionKey: Crypto.randomBytes(32))
        #expect(throws: PrivateKeyFile.Failure.self) { try other.load(rotated) }
        #expect(throws: PrivateKeyFile.Failure.self) { try manager.load(rotated) }
    }

    @Test("a key encryption key file must be 0600 and hold 64 hex digits")
    func keyEncryptionKeyFile() throws {
        let path = directory.path("kek.hex")
        let hex = Crypto.hex(Crypto.randomBytes(32))
        _ = FileManager.default.createFile(atPath: path, contents: Array((hex + "\n").utf8).withUnsafeBufferPointer { Data($0) }, attributes: [.posixPermissions: 0o600])
        #expect(Crypto.hex(try SigningKeyManager.readKeyEncryptionKey(path)) == hex)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: PrivateKeyFile.Failure.self) { try SigningKeyManager.readKeyEncryptionKey(path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data("abcd".utf8), attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        #expect(throws: PrivateKeyFile.Failure.self) { try SigningKeyManager.readKeyEncryptionKey(path) }
    }
}
