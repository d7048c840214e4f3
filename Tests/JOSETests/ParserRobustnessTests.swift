import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// Mutation testing of the parsers on hostile input: every mutant of a valid token, JWK or certificate
/// must either parse or fail with a `JOSEError` — never crash, hang or throw anything else.
/// (A coverage-guided fuzzer is the deeper tool; this keeps the property in every `make test`.)
@Suite("Parser robustness")
struct ParserRobustnessTests {
    /// A small deterministic generator, so a failure reproduces.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func mutants(of seed: [UInt8], count: Int, seedValue: UInt64) -> [[UInt8]] {
        var random = SplitMix(state: seedValue)
        let interesting: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, 0x30, 0x82, 0x2E, 0x22, 0x7B, 0x7D, 0x5C]
        return (0..<count).map { _ in
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                guard !bytes.isEmpty else { break }
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<5, using: &random) {
                case 0: bytes[index] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
                case 1: bytes[index] = interesting.randomElement(using: &random)!
                case 2: bytes.removeSubrange(index..<min(bytes.count, index + Int.random(in: 1...16, using: &random)))
                case 3: bytes.insert(contentsOf: bytes[index..<min(bytes.count, index + 8)], at: index)
                default: bytes = Array(bytes.prefix(index))
                }
            }
            return bytes
        }
    }

    @Test("compact JWS parsing and verification")
    func jws() throws {
        let signer = try SigningKey(key: AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "k")
        let token = try signer.sign(claims: ["iss": "a", "exp": 1, "aud": ["b", "c"]])
        for mutant in Self.mutants(of: Array(token.utf8), count: 3000, seedValue: 1) {
            do {
                let jws = try CompactJWS(String(decoding: mutant, as: UTF8.self))
                try? jws.verify(with: signer.key, allowed: JWSAlgorithm.fapi)
                let claims = try jws.claims()
                try? JWTValidator(audiences: ["b"]).validate(claims, now: 0)
            } catch {
                // Typed throws: a JOSEError is the only failure a mutant can cause.
            }
        }
    }

    @Test("JWK and JWKS parsing")
    func jwk() throws {
        for kind in [AsymmetricKey.Kind.rsa(bits: 2048), .p256, .ed25519] {
            let members = try JWK(key: AsymmetricKey.generate(kind), includePrivate: true).members
            let document = JSON.object(["keys": .array([.object(members)])]).bytes
            for mutant in Self.mutants(of: document, count: 400, seedValue: 2) {
                do { _ = try JWKSet(json: mutant) } catch { /* JOSEError only (typed throws) */ }
            }
        }
    }

    @Test("X.509 DER parsing")
    func certificate() throws {
        let pki = try TestPKI(name: "fuzz")
        try pki.makeCA("ca")
        try pki.issue("leaf", subject: "/C=GB/O=Fuzz/CN=leaf", by: "ca", extensions: ["subjectAltName=DNS:a.example,URI:https://b.example"])
        let der = try X509Certificate.parsePEM(try pki.read("leaf.pem"))[0].der
        let store = try CertificateTrustStore(pemFile: pki.path("ca.pem"))
        for mutant in Self.mutants(of: der, count: 3000, seedValue: 3) {
            do {
                let certificate = try X509Certificate(der: mutant)
                _ = certificate.subjectDN
                _ = certificate.isSelfSigned
                _ = try? certificate.publicKey()
                _ = try? store.verify(leaf: certificate, at: Date())
            } catch {
                // Typed throws: a JOSEError is the only failure a mutant can cause.
            }
        }
    }
}
