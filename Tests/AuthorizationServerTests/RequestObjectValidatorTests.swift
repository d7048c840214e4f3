import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import Synchronization
import TestSupport
import Testing

/// jti replay memory for one test.
final class MemoryReplayStore: ReplayStore {
    private let seen = Mutex<[String: Date]>([:])
    func consume(jti: String, clientID: String, expiresAt: Date, now: Date) async throws(StorageError) -> Bool {
        seen.withLock { entries in
            let key = clientID + " " + jti
            if let until = entries[key], until >= now { return false }
            entries[key] = expiresAt
            return true
        }
    }

    func expiry(of jti: String, clientID: String) -> Date? { seen.withLock { $0[clientID + " " + jti] } }
}

struct NoFetcher: JWKSFetcher {
    func fetch(_ url: String) async throws(JWKSFetchError) -> [UInt8] { throw JWKSFetchError("no network in unit tests") }
}

@Suite("RequestObjectValidator")
struct RequestObjectValidatorTests {
    static let issuer = "https://as.example"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    let key: AsymmetricKey
    let signer: SigningKey
    let client: Client
    let validator: RequestObjectValidator
    let replay = MemoryReplayStore()

    init() throws {
        key = try AsymmetricKey.generate(.p256)
        let jwk = try JWK(key: key)
        signer = try SigningKey(key: key, algorithm: .ES256, kid: jwk.kid ?? "k")
        client = try Client(
            clientID: "c",
            metadata: [
                "tls_client_auth_subject_dn": "CN=a,C=GB", "redirect_uris": ["https://tpp.example/cb"], "grant_types": ["authorization_code"],
                "scope": "openid accounts", "jwks": ["keys": [.object(jwk.publicMembers)]],
            ], createdAt: Self.now)
        let clock = FixedClock(Self.now)
        validator = RequestObjectValidator(
            keys: ClientKeyResolver(fetcher: NoFetcher(), clock: clock), replay: replay, issuer: Self.issuer, clock: clock)
    }

    func requestObject(_ extra: [String: JSON] = [:]) throws -> String {
        let now = Int64(Self.now.timeIntervalSince1970)
        var claims: [String: JSON] = [
            "iss": "c", "aud": .string(Self.issuer), "exp": .int(now + 300), "nbf": .int(now), "jti": .string(UUID().uuidString),
            "client_id": "c", "response_type": "code id_token", "redirect_uri": "https://tpp.example/cb", "scope": "openid accounts",
            "nonce": "n", "code_challenge": .string(Base64URL.encode(Crypto.sha256("v"))), "code_challenge_method": "S256",
        ]
        claims.merge(extra) { $1 }
        return try signer.sign(claims: claims)
    }

    @Test("a well-formed request object is accepted")
    func accepted() async throws {
        let request = try await validator.validate(try requestObject(), client: client)
        #expect(request.responseType == "code id_token")
    }

    @Test("request_uri or request inside a request object is invalid_request_object (RFC 9126 §2.1, RFC 9101 §4)", arguments: ["request_uri", "request"])
    func nestedRequest(member: String) async throws {
        let token = try requestObject([member: "urn:ietf:params:oauth:request_uri:abc"])
        var code: OAuthError.Code?
        do { _ = try await validator.validate(token, client: client) } catch { code = error.code }
        #expect(code == .invalidRequestObject)
    }

    @Test("a request object's jti is remembered until exp plus the clock skew, as long as the object is accepted")
    func jtiKeptWithSkew() async throws {
        let exp = Int64(Self.now.timeIntervalSince1970) + 300
        _ = try await validator.validate(try requestObject(["jti": "j-1", "exp": .int(exp)]), client: client)
        #expect(replay.expiry(of: "j-1", clientID: "jar:c") == Date(timeIntervalSince1970: TimeInterval(exp) + 10))
        var code: OAuthError.Code?
        let replayed = try requestObject(["jti": "j-1", "exp": .int(exp)])
        do { _ = try await validator.validate(replayed, client: client) } catch { code = error.code }
        #expect(code == .invalidRequestObject)
    }
}
