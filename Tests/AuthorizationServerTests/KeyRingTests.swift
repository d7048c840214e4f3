import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import Testing
import TestSupport

@Suite("KeyRing")
struct KeyRingTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Keys by kid, generated once; the loader counts how often it is asked.
    final class Keys: @unchecked Sendable {
        var keys: [String: AsymmetricKey] = [:]
        var loads = 0
        func loader() -> KeyRing.KeyLoader {
            { record in
                self.loads += 1
                if let key = self.keys[record.kid] { return key }
                throw JOSEError(.invalidKey, "no key \(record.kid)")
            }
        }
    }

    func make(_ keys: Keys, _ kid: String, _ algorithm: JWSAlgorithm, at date: Date, retired: Date? = nil, until: Date? = nil) throws
        -> SigningKeyRecord
    {
        keys.keys[kid] = try AsymmetricKey.generate(algorithm == .PS256 ? .rsa(bits: 2048) : .p256)
        return SigningKeyRecord(kid: kid, algorithm: algorithm, keyFile: kid, createdAt: date, retiredAt: retired, publishUntil: until)
    }

    @Test("active keys sign; retired keys are published until their time, then dropped")
    func states() throws {
        let keys = Keys()
        let records = [
            try make(keys, "ps", .PS256, at: t0),
            try make(keys, "es-old", .ES256, at: t0, retired: t0.addingTimeInterval(10), until: t0.addingTimeInterval(100)),
            try make(keys, "es", .ES256, at: t0.addingTimeInterval(10)),
        ]
        let ring = KeyRing(clock: FixedClock(t0.addingTimeInterval(50)))
        ring.reload(records: records, now: t0.addingTimeInterval(50), load: keys.loader())
        #expect(ring.signer(for: .PS256)?.kid == "ps")
        #expect(ring.signer(for: .ES256)?.kid == "es")
        #expect(ring.snapshot.published.compactMap(\.kid) == ["ps", "es-old", "es"])
        let document = try JWKSet(json: ring.snapshot.jwksDocument)
        #expect(document.keys.count == 3)
        #expect(document.keys.allSatisfy { !$0.key.isPrivate && $0.members["d"] == nil && $0.use == "sig" && $0.algorithm != nil })

        ring.reload(records: records, now: t0.addingTimeInterval(101), load: keys.loader())
        #expect(ring.snapshot.published.compactMap(\.kid) == ["ps", "es"])
        #expect(keys.loads == 3, "keys already parsed are not parsed again")
    }

    @Test("a key that cannot be loaded is named and unused; the others load, sign and are published")
    func failedReload() throws {
        let keys = Keys()
        let good = [try make(keys, "ps", .PS256, at: t0)]
        let ring = KeyRing(clock: FixedClock(t0))
        #expect(ring.reload(records: good, now: t0, load: keys.loader()).isEmpty)
        let missing = SigningKeyRecord(kid: "gone", algorithm: .ES256, keyFile: "gone", createdAt: t0)
        let unloadable = ring.reload(records: good + [missing], now: t0, load: keys.loader())
        #expect(Array(unloadable.keys) == ["gone"] && ring.snapshot.unloadable.keys.contains("gone"))
        #expect(ring.signer(for: .PS256)?.kid == "ps")
        #expect(ring.signer(for: .ES256) == nil)
        #expect(ring.snapshot.published.compactMap(\.kid) == ["ps"])
    }

    @Test("a retiring key is published from its record's JWK without loading it; an unloadable active one still is")
    func publishedFromRecords() throws {
        let key = try AsymmetricKey.generate(.p256)
        var retiring = try SigningKeyRecord.make(for: key, algorithm: .ES256, keyFile: "in-a-token", createdAt: t0)
        retiring.retiredAt = t0.addingTimeInterval(10)
        retiring.publishUntil = t0.addingTimeInterval(100)
        let other = try SigningKeyRecord.make(for: try AsymmetricKey.generate(.p256), algorithm: .ES256, keyFile: "down", createdAt: t0.addingTimeInterval(10))
        let ring = KeyRing(clock: FixedClock(t0.addingTimeInterval(20)))
        let loads = Keys()
        let unloadable = ring.reload(records: [retiring, other], now: t0.addingTimeInterval(20), load: loads.loader())
        #expect(loads.loads == 1, "only the active key is loaded")
        #expect(Array(unloadable.keys) == [other.kid])
        // Both are in /jwks: tokens the retiring key signed still verify, and another instance may sign with `other`.
        let document = try JWKSet(json: ring.snapshot.jwksDocument)
        #expect(Set(document.keys.compactMap(\.kid)) == [retiring.kid, other.kid])
        #expect(document.keys.allSatisfy { $0.members["d"] == nil })
        #expect(ring.signer(for: .ES256) == nil)
    }

    @Test("while a key load hangs, the ring still follows the fresh records; the hung reload keeps its key, not its snapshot")
    func hungLoad() async throws {
        let keys = Keys()
        let ps = try make(keys, "ps", .PS256, at: t0)
        let slowKey = try AsymmetricKey.generate(.p256)
        var staged = try SigningKeyRecord.make(for: slowKey, algorithm: .ES256, keyFile: "pkcs11:token=t;id=%01", createdAt: t0)
        staged.activatesAt = t0.addingTimeInterval(100)
        let slow = staged
        let ring = KeyRing(clock: FixedClock(t0))
        let gate = DispatchSemaphore(value: 0)
        let hanging: KeyRing.KeyLoader = { record in
            if record.kid == slow.kid {
                gate.wait()
                return slowKey
            }
            return keys.keys[record.kid]!
        }
        let first = await ring.reloadOffThread(records: [ps, slow], now: t0, timeout: .milliseconds(100), load: hanging)
        #expect(first[slow.kid]?.contains("did not load within") == true)
        #expect(ring.signer(for: .PS256)?.kid == "ps")
        #expect(Set(ring.snapshot.published.compactMap(\.kid)) == ["ps", slow.kid], "the hanging key is published from its record")
        // A later call while the load still hangs: rebuilt from its own records at once.
        let es = try make(keys, "es", .ES256, at: t0)
        let second = await ring.reloadOffThread(records: [ps, slow, es], now: t0, timeout: .milliseconds(100), load: keys.loader())
        #expect(second[slow.kid]?.contains("still loading") == true)
        #expect(ring.signer(for: .ES256)?.kid == "es")
        gate.signal()
        for _ in 0..<200 where ring.snapshot.loaded[slow.kid] == nil {
            try await Task.sleep(for: .milliseconds(10))
            // The hung reload's key is kept once it returns; its older snapshot is not applied over the later one.
            if ring.reload(records: [ps, slow, es], now: t0, load: { _ in throw JOSEError(.invalidKey, "not again") }).isEmpty { break }
        }
        #expect(ring.snapshot.loaded[slow.kid] != nil && ring.snapshot.records.count == 3)
    }

    @Test("a key forgotten while a reload runs is loaded again by the next reload")
    func forgetDuringReload() throws {
        let keys = Keys()
        let records = [try make(keys, "ps", .PS256, at: t0)]
        let ring = KeyRing(clock: FixedClock(t0))
        ring.reload(records: records, now: t0) { record in
            ring.forget(record.kid)
            return keys.keys[record.kid]!
        }
        #expect(ring.signer(for: .PS256)?.kid == "ps", "the reload's snapshot still signs")
        ring.reload(records: records, now: t0, load: keys.loader())
        #expect(keys.loads == 1, "the forgotten key was loaded again")
        ring.reload(records: records, now: t0, load: keys.loader())
        #expect(keys.loads == 1, "and is kept after that")
    }

    @Test("tokens signed by the ring's signer verify with its published JWKS")
    func signAndVerify() async throws {
        let keys = Keys()
        let ring = KeyRing(clock: FixedClock(t0))
        ring.reload(records: [try make(keys, "ps", .PS256, at: t0), try make(keys, "es", .ES256, at: t0)], now: t0, load: keys.loader())
        let published = try JWKSet(json: ring.snapshot.jwksDocument)
        for algorithm in [JWSAlgorithm.PS256, .ES256] {
            let token = try await #require(ring.signer(for: algorithm)).sign(claims: ["iss": "https://localhost:8443"])
            #expect(try CompactJWS(token).verify(with: published, allowed: JWSAlgorithm.fapi).kid == ring.signer(for: algorithm)?.kid)
        }
    }
}

@Suite("ServerMetadata")
struct ServerMetadataTests {
    @Test("advertises the issuer and jwks_uri; contributions cannot change the issuer")
    func document() {
        let metadata = ServerMetadata(issuer: "https://localhost:8443").adding(["issuer": "https://evil.example", "x": true])
        #expect(metadata.members["issuer"] == "https://localhost:8443")
        #expect(metadata.members["jwks_uri"] == "https://localhost:8443/jwks")
        #expect(metadata.members["x"] == true)
    }
}
