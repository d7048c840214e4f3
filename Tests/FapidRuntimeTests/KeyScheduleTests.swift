import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import Logging
import OpenSSLKit
import TestSupport
import Testing

/// Staged rotation (OIDC Core §10.1.1) on a fixed clock over in-memory storage: `fapictl keys rotate` publishes the
/// next key, time alone makes it sign and retires the previous one, and each transition is one audit event.
@Suite("Key schedule")
struct KeyScheduleTests {
    let storage = Storage.memory()
    let manager: SigningKeyManager
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    /// When the rotation is asked for; the staged key signs from `t1 + 900`.
    var t1: Date { t0.addingTimeInterval(60) }
    var switchTime: Date { t1.addingTimeInterval(900) }

    init() throws {
        // Sealed keys: nothing is written to disk.
        manager = SigningKeyManager(
            store: storage.signingKeys, keysDirectory: "/nonexistent", retiredPublishSeconds: 600, publishAheadSeconds: 900,
            keyEncryptionKey: Crypto.randomBytes(32))
    }

    func ring(at now: Date) async throws -> KeyRing {
        let ring = KeyRing(clock: FixedClock(now))
        try await manager.reload(ring, now: now)
        return ring
    }

    func state(_ kid: String, at now: Date) async throws -> SigningKeyRecord.State? {
        try await storage.signingKeys.signingKeys().first { $0.kid == kid }?.state(at: now)
    }

    func published(_ ring: KeyRing) throws -> Set<String> {
        Set(try JWKSet(json: ring.snapshot.jwksDocument).keys.compactMap(\.kid))
    }

    func auditTypes() async throws -> [String] {
        try await storage.audit.rows(after: 0, limit: 1000).compactMap { $0.values["type"] }
    }

    @Test("a rotated key is next (published, not signing) until key_publish_ahead_seconds, then active; the old one retires, then leaves")
    func nextActiveRetiringRemoved() async throws {
        try await manager.ensureActiveKeys(generate: true, now: t0)
        let old = try #require(try await ring(at: t0).signer(for: .ES256)).kid
        let new = try await manager.rotate(.ES256, now: t1)
        #expect(new.activatesAt == switchTime && new.recordedState == .next)

        let before = try await ring(at: switchTime.addingTimeInterval(-1))
        #expect(try await state(new.kid, at: t1) == .next)
        #expect(before.signer(for: .ES256)?.kid == old)
        #expect(try published(before).isSuperset(of: [old, new.kid]))

        let after = try await ring(at: switchTime)
        #expect(after.signer(for: .ES256)?.kid == new.kid)
        #expect(try await state(new.kid, at: switchTime) == .active)
        #expect(try await state(old, at: switchTime) == .retiring)
        // A token the old key signed just before the switch still verifies against /jwks while it is retiring.
        let token = try await #require(before.signer(for: .ES256)).sign(claims: ["n": 1])
        try CompactJWS(token).verify(with: try JWKSet(json: after.snapshot.jwksDocument), allowed: [.ES256])

        let gone = switchTime.addingTimeInterval(600)
        #expect(try await state(old, at: gone) == .removed)
        #expect(try !published(try await ring(at: gone)).contains(old))
        // The other algorithm is untouched.
        #expect(try await ring(at: gone).signer(for: .PS256) != nil)
    }

    @Test("--now over a pending staged key: the newest key signs at once, the pending one never signs, the old one stops now")
    func emergencyOverPending() async throws {
        try await manager.ensureActiveKeys(generate: true, now: t0)
        let old = try #require(try await ring(at: t0).signer(for: .ES256)).kid
        let pending = try await manager.rotate(.ES256, now: t1)
        let emergency = t1.addingTimeInterval(100)
        let new = try await manager.rotate(.ES256, now: emergency, immediately: true)
        #expect(new.activatesAt == nil && new.recordedState == .active)
        for time in [emergency, switchTime, switchTime.addingTimeInterval(1000)] {
            #expect(try await ring(at: time).signer(for: .ES256)?.kid == new.kid)
        }
        #expect(try await state(old, at: emergency) == .retiring)
        #expect(try await state(pending.kid, at: emergency) == .retiring)
        let records = try await storage.signingKeys.signingKeys()
        #expect(records.filter { $0.kid != new.kid && $0.algorithm == .ES256 }.allSatisfy { $0.retiredAt == emergency })
        #expect(records.filter { $0.state(at: switchTime) == .active }.map(\.algorithm).sorted { $0.rawValue < $1.rawValue } == [.ES256, .PS256])
    }

    @Test("two staged rotations in a row: each key signs from its own time, the first until the second starts")
    func twoInARow() async throws {
        try await manager.ensureActiveKeys(generate: true, now: t0)
        let old = try #require(try await ring(at: t0).signer(for: .ES256)).kid
        let first = try await manager.rotate(.ES256, now: t1)
        let second = try await manager.rotate(.ES256, now: t1.addingTimeInterval(10))
        #expect(try await ring(at: switchTime.addingTimeInterval(-1)).signer(for: .ES256)?.kid == old)
        #expect(try await ring(at: switchTime).signer(for: .ES256)?.kid == first.kid)
        #expect(try await ring(at: switchTime.addingTimeInterval(10)).signer(for: .ES256)?.kid == second.kid)
        let records = Dictionary(uniqueKeysWithValues: try await storage.signingKeys.signingKeys().map { ($0.kid, $0) })
        #expect(records[old]?.retiredAt == switchTime)
        #expect(records[first.kid]?.retiredAt == switchTime.addingTimeInterval(10))
        #expect(records[first.kid]?.state(at: switchTime.addingTimeInterval(5)) == .active)
        // Both staged keys are in /jwks before either signs.
        #expect(try published(try await ring(at: t1.addingTimeInterval(10))).isSuperset(of: [old, first.kid, second.kid]))
    }

    @Test("two instances recording transitions on one store write each transition once")
    func transitionsOnce() async throws {
        try await manager.ensureActiveKeys(generate: true, now: t0)
        let clock = FixedClock(t0)
        let refreshers = (0..<2).map { _ in
            KeyRingRefresher(manager: manager, ring: KeyRing(clock: clock), clock: clock, interval: .seconds(1), logger: Logger(label: "test"))
        }
        func refreshAll(at time: Date) async {
            clock.set(time)
            await withTaskGroup(of: Void.self) { group in
                for refresher in refreshers { group.addTask { await refresher.recordTransitions() } }
            }
        }
        await refreshAll(at: t0)
        // Keys registered active are recorded by their key.added event already.
        #expect(try await auditTypes() == ["key.added", "key.added"])
        let new = try await manager.rotate(.ES256, now: t1)
        for time in [t1, t1.addingTimeInterval(1), switchTime, switchTime.addingTimeInterval(1), switchTime.addingTimeInterval(600)] {
            await refreshAll(at: time)
        }
        await refreshAll(at: switchTime.addingTimeInterval(601))
        // At the switch the old key retires and the new one activates in one refresh: their order there is the records'.
        let types = try await auditTypes()
        #expect(types.sorted() == ["key.activated", "key.added", "key.added", "key.removed", "key.retiring", "key.staged"])
        #expect(Array(types.prefix(3)) == ["key.added", "key.added", "key.staged"] && types.last == "key.removed")
        let reasons = try await storage.audit.rows(after: 0, limit: 1000).compactMap { $0.values["reason"] }
        #expect(reasons[2].contains(new.kid) && reasons[2].contains("active from"))
        #expect(reasons.contains { $0.contains(new.kid) && $0.contains("signs from") })
        #expect(!reasons.contains { $0.contains("PRIVATE") })
    }
}

/// Rotation of a key that lives in a PKCS#11 token (SoftHSM2): the new key is made in the same token and staged too.
@Suite("Key schedule in a PKCS#11 token", .serialized, .enabled(if: SoftHSM.shared != nil, "softhsm2 is not installed"))
struct KeyScheduleTokenTests {
    @Test("rotating a token key makes the next key in the same token, staged like any other")
    func rotateInToken() async throws {
        let token = try #require(SoftHSM.shared)
        let storage = Storage.memory()
        let manager = SigningKeyManager(
            store: storage.signingKeys, keysDirectory: "/nonexistent", publishAheadSeconds: 900,
            pkcs11: .init(module: token.module, pin: SoftHSM.pin))
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let active = try manager.newTokenKey(.ES256, in: PKCS11URI(token: SoftHSM.tokenLabel), now: t0)
        try await storage.signingKeys.insertSigningKey(active, audit: nil)
        let next = try await manager.rotate(.ES256, now: t0.addingTimeInterval(60))
        #expect(next.location == .pkcs11 && next.kid != active.kid && next.sealedKey == nil)
        #expect(try PKCS11URI(parsing: next.keyFile).token == SoftHSM.tokenLabel)
        #expect(next.activatesAt == t0.addingTimeInterval(960) && next.state(at: t0.addingTimeInterval(60)) == .next)
        let ring = KeyRing(clock: FixedClock(t0.addingTimeInterval(960)))
        try await manager.reload(ring, now: t0.addingTimeInterval(960))
        let signer = try #require(ring.signer(for: .ES256))
        #expect(signer.kid == next.kid)
        let jws = try await signer.sign(claims: ["n": 1])
        try CompactJWS(jws).verify(with: try JWKSet(json: ring.snapshot.jwksDocument), allowed: [.ES256])

        // Off the token (`keys rotate --now --file`): the next key is sealed in the database, and signs at once.
        let sealing = SigningKeyManager(
            store: storage.signingKeys, keysDirectory: "/nonexistent", publishAheadSeconds: 900, keyEncryptionKey: Crypto.randomBytes(32),
            pkcs11: .init(module: token.module, pin: SoftHSM.pin))
        let later = t0.addingTimeInterval(1000)
        let off = try await sealing.rotate(.ES256, now: later, immediately: true, inToken: false)
        #expect(off.location == .sealed && off.state(at: later) == .active)
        let records = try await storage.signingKeys.signingKeys()
        #expect(records.first { $0.kid == next.kid }?.state(at: later) == .retiring)
    }
}
