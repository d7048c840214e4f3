import JOSE
import OpenSSLKit
import Testing

@Suite("CompactJWS")
struct CompactJWSTests {
    static let es256 = try! SigningKey(key: AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "es")
    static let ps256 = try! SigningKey(key: AsymmetricKey.generate(.rsa(bits: 2048)), algorithm: .PS256, kid: "ps")
    static let ed25519 = try! SigningKey(key: AsymmetricKey.generate(.ed25519), algorithm: .EdDSA, kid: "ed")

    private func code(_ body: () throws -> Void) -> JOSEError.Code? {
        do {
            try body()
            return nil
        } catch let error as JOSEError {
            return error.code
        } catch {
            return .cryptoFailure
        }
    }

    @Test("each signing algorithm round-trips and refuses a tampered payload", arguments: ["ES256", "PS256", "EdDSA"])
    func roundTrip(alg: String) throws {
        let signer = [Self.es256, Self.ps256, Self.ed25519].first { $0.algorithm.rawValue == alg }!
        let token = try signer.sign(claims: ["iss": "https://localhost:8443", "n": 1])
        let jws = try CompactJWS(token)
        #expect(jws.kid == signer.kid)
        #expect(jws.type == "JWT")
        try jws.verify(with: signer.key, allowed: JWSAlgorithm.fapi2)

        let parts = token.split(separator: ".")
        let forged = parts[0] + "." + Base64URL.encode(Array(#"{"iss":"evil"}"#.utf8)) + "." + parts[2]
        #expect(code { try CompactJWS(String(forged)).verify(with: signer.key, allowed: JWSAlgorithm.fapi2) } == .invalidSignature)
    }

    @Test("alg none is refused")
    func algNone() {
        let token = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array("{}".utf8)) + "."
        #expect(code { _ = try CompactJWS(token) } != nil)
        let withSignature = TestFixtures.token(header: #"{"alg":"none"}"#)
        #expect(code { _ = try CompactJWS(withSignature) } == .unsupportedAlgorithm)
    }

    @Test("HMAC and unknown algorithms are refused", arguments: ["HS256", "HS512", "ES512", "RS512", "PS384", "foo"])
    func unsupportedAlgorithms(alg: String) {
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: #"{"alg":"\#(alg)"}"#)) } == .unsupportedAlgorithm)
    }

    @Test("an algorithm that does not fit the key is refused (ES256 header, RSA key)")
    func algorithmKeyMismatch() throws {
        let token = try Self.es256.sign(payload: Array("x".utf8))
        #expect(code { try CompactJWS(token).verify(with: Self.ps256.key, allowed: JWSAlgorithm.fapi) } == .algorithmMismatch)
        #expect(code { try Self.ps256.key.verify(signature: [], input: [], algorithm: .EdDSA) } == .algorithmMismatch)
        #expect(code { _ = try SigningKey(key: Self.es256.key, algorithm: .PS256, kid: "x") } == .algorithmMismatch)
    }

    @Test("an algorithm outside the allowed set is refused even with a fitting key")
    func notAllowed() throws {
        let token = try Self.ed25519.sign(payload: Array("x".utf8))
        #expect(code { try CompactJWS(token).verify(with: Self.ed25519.key, allowed: JWSAlgorithm.fapi) } == .algorithmMismatch)
    }

    @Test("unknown crit headers are refused")
    func crit() {
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: #"{"alg":"ES256","crit":["exp"],"exp":1}"#)) } == .unsupportedCriticalHeader)
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: #"{"alg":"ES256","crit":[]}"#)) } == .malformed)
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: #"{"alg":"ES256","crit":"b64"}"#)) } == .malformed)
    }

    @Test("b64 false is refused")
    func unencoded() {
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: #"{"alg":"ES256","b64":false,"crit":["b64"]}"#)) } != nil)
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: #"{"alg":"ES256","b64":false}"#)) } == .unencodedPayload)
    }

    @Test("bad base64url is refused", arguments: ["eyJhbGciOiJFUzI1NiJ9=.e30.AQID", "eyJhbGciOiJFUzI1NiJ9.e3+0.AQID", "eyJhbGciOiJFUzI1NiJ9.e30.AQ ID", "eyJhbGciOiJFUzI1NiJ9.e30.A"])
    func badBase64(token: String) {
        #expect(code { _ = try CompactJWS(token) } == .malformed)
    }

    @Test("wrong segment counts are refused", arguments: ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", ".." ])
    func segments(token: String) {
        let result = code { _ = try CompactJWS(token) }
        #expect(result == .malformed)
    }

    @Test("an empty payload parses (RFC 7515 allows it) but is not a JWT")
    func emptyPayload() throws {
        let jws = try CompactJWS("eyJhbGciOiJFUzI1NiJ9..AQID")
        #expect(jws.payload.isEmpty)
        #expect(code { _ = try jws.claims() } == .malformed)
    }

    @Test("a header that is not a JSON object, or has no alg, is refused")
    func badHeader() {
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: "[1]")) } == .malformed)
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: "{\"typ\":\"JWT\"}")) } == .malformed)
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: "{\"alg\":5}")) } == .malformed)
        #expect(code { _ = try CompactJWS(TestFixtures.token(header: "not json")) } == .malformed)
    }

    @Test("tokens over the size limit are refused before parsing")
    func tooLarge() {
        let big = TestFixtures.token(header: #"{"alg":"ES256"}"#, payload: String(repeating: "a", count: 70_000))
        #expect(code { _ = try CompactJWS(big) } == .tooLarge)
        #expect(code { _ = try CompactJWS(big, maximumLength: 200_000) } == nil)
    }

    @Test("ES256 signatures must be raw 64 bytes; DER is refused")
    func es256SignatureShape() throws {
        let token = try Self.es256.sign(payload: Array("x".utf8))
        let jws = try CompactJWS(token)
        #expect(code { try Self.es256.key.verify(signature: Array(jws.signature.prefix(63)), input: jws.signingInput, algorithm: .ES256) } == .invalidSignature)
    }

    @Test("verification against a key set picks the key by kid and fails for an unknown kid")
    func keySet() throws {
        let set = JWKSet(keys: [try Self.es256.publicJWK(), try Self.ps256.publicJWK()])
        let token = try Self.ps256.sign(payload: Array("x".utf8))
        #expect(try CompactJWS(token).verify(with: set, allowed: JWSAlgorithm.fapi).kid == "ps")
        let other = try SigningKey(key: Self.ps256.key, algorithm: .PS256, kid: "unknown").sign(payload: Array("x".utf8))
        #expect(code { try CompactJWS(other).verify(with: set, allowed: JWSAlgorithm.fapi) } == .invalidSignature)
    }
}
