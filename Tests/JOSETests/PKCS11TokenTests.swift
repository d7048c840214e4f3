import Foundation
import Synchronization
import JOSE
import OpenSSLKit
import Testing
import TestSupport

@Suite("Keys in a PKCS#11 token (SoftHSM2)", .serialized, .enabled(if: SoftHSM.shared != nil, "softhsm2 is not installed"))
struct PKCS11TokenTests {
    let token = try! #require(SoftHSM.shared)

    @Test("a key pair made in the token signs PS256 and ES256 through OpenSSL, and verifies with its public JWK")
    func generateLoadSign() throws {
        for (kind, algorithm) in [(AsymmetricKey.Kind.rsa(bits: 2048), JWSAlgorithm.PS256), (.p256, .ES256)] {
            let id = (0..<8).map { _ in UInt8.random(in: 0...255) }
            let uri = try PKCS11Token.generateKeyPair(
                module: token.module, token: PKCS11URI(token: SoftHSM.tokenLabel), pin: SoftHSM.pin, kind: kind, id: id, label: "test-\(algorithm)")
            #expect(uri.id == id && uri.type == "private")
            let key = try PKCS11Token.loadPrivateKey(module: token.module, uri: try PKCS11URI(parsing: uri.description), pin: SoftHSM.pin)
            #expect(key.isInToken && key.isPrivate && key.kind == kind)
            #expect(throws: JOSEError.self) { try key.privateKeyPEM() }
            let signer = try SigningKey(key: key, algorithm: algorithm, kid: try JWK.thumbprint(of: key))
            let jws = try signer.sign(claims: ["iss": "https://localhost:8443"])
            let published = JWKSet(keys: [try signer.publicJWK()])
            #expect(try CompactJWS(jws).verify(with: published, allowed: [algorithm]).kid == signer.kid)
            #expect(try signer.publicJWK().members["d"] == nil)
        }
    }

    @Test("a key loads while signatures keep the token busy (loads are not starved by a steady stream of signatures)")
    func loadUnderSigning() async throws {
        let uri = try PKCS11Token.generateKeyPair(
            module: token.module, token: PKCS11URI(token: SoftHSM.tokenLabel), pin: SoftHSM.pin, kind: .p256, id: [0x5A, 0x5A], label: "busy")
        let stop = Atomic<Bool>(false)
        let signers = (0..<4).map { _ in
            Thread {
                // Overlapping shared holds, as four pool threads signing back to back make.
                while !stop.load(ordering: .relaxed) { _ = PKCS11Token.whileSigning { usleep(2000) } }
            }
        }
        signers.forEach { $0.start() }
        try await Task.sleep(for: .milliseconds(50))
        let loaded = Atomic<Bool>(false)
        let module = token.module
        Thread {
            _ = try? PKCS11Token.loadPrivateKey(module: module, uri: uri, pin: SoftHSM.pin)
            loaded.store(true, ordering: .relaxed)
        }.start()
        let started = ContinuousClock.now
        while !loaded.load(ordering: .relaxed), ContinuousClock.now - started < .seconds(3) { try await Task.sleep(for: .milliseconds(10)) }
        let inTime = loaded.load(ordering: .relaxed)
        // Stop the signatures either way, so that a starved load finishes and the test ends.
        stop.store(true, ordering: .relaxed)
        while !loaded.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(inTime, "the load waited more than 3 s behind the signatures")
    }

    // A wrong PIN is checked end to end (a fresh fapictl process): within one process the module's login is shared.
    @Test("an absent token and an absent key are refused with a reason")
    func refusals() throws {
        let missing = PKCS11URI(token: SoftHSM.tokenLabel, id: [0xEE, 0xEE])
        #expect(throws: JOSEError.self) { try PKCS11Token.loadPrivateKey(module: token.module, uri: missing, pin: SoftHSM.pin) }
        #expect(throws: JOSEError.self) {
            try PKCS11Token.generateKeyPair(
                module: token.module, token: PKCS11URI(token: "no-such-token"), pin: SoftHSM.pin, kind: .p256, id: [1], label: "x")
        }
    }
}

@Suite("RFC 7512 pkcs11: URIs")
struct PKCS11URITests {
    @Test("parses token, serial, object, id and type; prints a canonical form that parses back")
    func roundTrip() throws {
        let uri = try PKCS11URI(parsing: "pkcs11:token=My%20Token;serial=0123;object=signing%3Bkey;id=%01%02;type=private")
        #expect(uri.token == "My Token" && uri.serial == "0123" && uri.object == "signing;key" && uri.id == [1, 2] && uri.type == "private")
        #expect(uri.description == "pkcs11:token=My%20Token;serial=0123;object=signing%3Bkey;id=%01%02;type=private")
        #expect(try PKCS11URI(parsing: uri.description) == uri)
        // `=` may stand in a path value (RFC 7512 §2.3); the canonical form encodes it.
        let equals = try PKCS11URI(parsing: "pkcs11:token=t;object=a=b")
        #expect(equals.object == "a=b" && equals.description == "pkcs11:token=t;object=a%3Db")
    }

    @Test("a PIN, a module, unknown or repeated attributes and bad encodings are refused", arguments: [
        "pkcs11:token=t?pin-value=1234", "pkcs11:token=t?pin-source=file:/tmp/pin", "pkcs11:token=t?module-path=/tmp/x.so",
        "pkcs11:token=t;frobnicate=1", "pkcs11:token=t;token=u", "pkcs11:id=%G1", "pkcs11:token", "file:/tmp/key", "pkcs11:type=weird",
        "pkcs11:id=%+1", "pkcs11:token=a%00b",
    ])
    func refused(_ text: String) {
        #expect(throws: PKCS11URI.Failure.self) { try PKCS11URI(parsing: text) }
    }
}
