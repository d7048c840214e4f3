import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// Cross-checks with Python's joserfc, an implementation we did not write.
@Suite("Interoperability with joserfc", .serialized)
struct JOSEInteroperabilityTests {
    static let peer = TestFixtures.directory.appendingPathComponent("joserfc_peer.py").path

    @Test("our tokens verify in joserfc", arguments: [JWSAlgorithm.PS256, .ES256, .EdDSA])
    func oursVerifyThere(algorithm: JWSAlgorithm) throws {
        let kind: AsymmetricKey.Kind = algorithm == .PS256 ? .rsa(bits: 2048) : algorithm == .ES256 ? .p256 : .ed25519
        let signer = try SigningKey(key: AsymmetricKey.generate(kind), algorithm: algorithm, kid: "ours")
        let payload = #"{"iss":"https://localhost:8443","n":42}"#
        let token = try signer.sign(payload: Array(payload.utf8))
        let pki = try TestPKI(name: "interop")
        try JSON.object(try signer.publicJWK().publicMembers).serialized().write(toFile: pki.path("jwk.json"), atomically: true, encoding: .utf8)
        let verified = try Shell.run([Shell.python, Self.peer, "verify", algorithm.rawValue, pki.path("jwk.json"), token])
        #expect(verified == payload)

        // joserfc must also refuse our token once tampered with, or the check above proves nothing.
        let parts = token.split(separator: ".")
        let tampered = parts[0] + "." + Base64URL.encode(Array(#"{"n":43}"#.utf8)) + "." + parts[2]
        #expect(throws: Shell.Failure.self) { try Shell.run([Shell.python, Self.peer, "verify", algorithm.rawValue, pki.path("jwk.json"), String(tampered)]) }
    }

    @Test("joserfc tokens verify here", arguments: [JWSAlgorithm.PS256, .ES256, .EdDSA])
    func theirsVerifyHere(algorithm: JWSAlgorithm) throws {
        let output = try Shell.run([Shell.python, Self.peer, "sign", algorithm.rawValue, "hello from joserfc"])
        let object = try JSON.parseObject(Array(output.utf8))
        let jwk = try JWK(members: object["jwk"]!.objectValue!)
        let jws = try CompactJWS(object["token"]!.stringValue!)
        #expect(jws.algorithm == algorithm)
        try jws.verify(with: jwk.key, allowed: JWSAlgorithm.fapi2)
        #expect(String(decoding: jws.payload, as: UTF8.self) == "hello from joserfc")
    }
}
