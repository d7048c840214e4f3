public import Foundation
public import JOSE
import OpenSSLKit

/// What the HTTP edge hands the core about one request's DPoP proof (RFC 9449 §4): every value of the
/// `DPoP` header field as received, and the method and URL the request was sent to.
public struct DPoPRequest: Sendable {
    /// Every `DPoP` header value; empty when the request carried none.
    public var proofs: [String]
    /// The HTTP method (`htm`).
    public var method: String
    /// The endpoint's URL as this server names it (issuer + path); `htu` is compared with it (§4.3 item 9).
    public var url: String

    public init(proofs: [String], method: String, url: String) {
        self.proofs = proofs
        self.method = method
        self.url = url
    }

    public var hasProof: Bool { !proofs.isEmpty }
}

/// A proof that passed every check of RFC 9449 §4.3: its key, parsed once, and that key's RFC 7638 thumbprint
/// (the `jkt` a token or code is bound to).
public struct DPoPProof: Sendable {
    public let key: JWK
    public let thumbprint: String
}

/// Settings the proof checks read.
public struct DPoPSettings: Sendable {
    /// RFC 9449 §5.1 `dpop_signing_alg_values_supported`: asymmetric, FAPI 2 SP §5.4.1 (RS256 and none refused).
    public static let algorithms: [JWSAlgorithm] = JWSAlgorithm.fapi2Listed
    /// How far in the past `iat` may be (§11.1: a bounded acceptance window). FAPI 2 SP §5.3.2.1-13 needs 10 s.
    public var maximumAge: TimeInterval = 60
    /// How far in the future `iat` may be: clock skew (FAPI 2 SP §5.3.2.1-13: 10 s accepted, over 60 s refused).
    public var maximumFuture: TimeInterval = 15
    /// §8: every proof must carry a nonce this server provided (`dpop_nonce_required`).
    public var nonceRequired: Bool = false
    /// Largest proof accepted, in bytes: an RSA-4096 `jwk` fits easily (CWE-400).
    public static let maximumLength = 8 * 1024

    public init(maximumAge: TimeInterval = 60, maximumFuture: TimeInterval = 15, nonceRequired: Bool = false) {
        self.maximumAge = maximumAge
        self.maximumFuture = maximumFuture
        self.nonceRequired = nonceRequired
    }
}

/// RFC 9449 §4.3 proof validation, at the authorization server (PAR, token) and at resources (userinfo, with
/// `ath`). One verify and one replay insert per proof: the `jwk` is parsed once, cheap checks run first, and the
/// `jti` is consumed last, in the shared `ReplayStore` (§11.1), so a bad proof stores nothing.
public struct DPoPProofValidator: Sendable {
    let replay: any ReplayStore
    public let nonces: DPoPNonces
    let clock: any WallClock
    public let settings: DPoPSettings

    /// Members of a JWK that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4): never in a proof (§4.3 item 7).

    public init(replay: any ReplayStore, nonces: DPoPNonces, clock: any WallClock, settings: DPoPSettings = DPoPSettings()) {
        self.replay = replay
        self.nonces = nonces
        self.clock = clock
        self.settings = settings
    }

    /// The nonce to send in `DPoP-Nonce` now (RFC 9449 §8.1).
    public func currentNonce() -> String { nonces.current(at: clock.now()) }

    /// The checked proof of `request`, or nil when it carries none. `accessToken`: at a resource, the token the
    /// proof must name in `ath` (§4.3 item 11, §7.1). Errors are `invalid_dpop_proof` or `use_dpop_nonce`.
    public func validate(_ request: DPoPRequest, accessToken: String? = nil) async throws(OAuthError) -> DPoPProof? {
        guard !request.proofs.isEmpty else { return nil }
        // §4.3 item 1: exactly one DPoP header.
        guard request.proofs.count == 1 else { throw Self.invalid("exactly one DPoP header is allowed") }
        let now = clock.now()
        let proof = try check(request.proofs[0], method: request.method, url: request.url, accessToken: accessToken, now: now)
        // §8: the nonce, when required or sent, must be one this server provided and still accepts.
        if let nonce = proof.nonce {
            guard nonces.isValid(nonce, at: now) else {
                throw OAuthError(.useDPoPNonce, "the DPoP proof nonce is not current", detail: "stale or unknown DPoP nonce")
            }
        } else if settings.nonceRequired {
            throw OAuthError(.useDPoPNonce, "the DPoP proof must carry the server nonce")
        }
        // §11.1: single use for as long as the proof would be accepted.
        let fresh: Bool
        do {
            fresh = try await replay.consume(
                jti: proof.jti, clientID: "dpop:" + proof.checked.thumbprint,
                expiresAt: Date(timeIntervalSince1970: proof.issuedAt + settings.maximumAge + 1), now: now)
        } catch {
            throw OAuthError(error)
        }
        guard fresh else { throw Self.invalid("the DPoP proof jti was already used") }
        return proof.checked
    }

    struct Checked {
        let checked: DPoPProof
        let jti: String
        let issuedAt: TimeInterval
        let nonce: String?
    }

    /// Every check but the nonce and the replay memory, which need the clock's server state.
    func check(_ token: String, method: String, url: String, accessToken: String?, now: Date) throws(OAuthError) -> Checked {
        guard token.utf8.count <= DPoPSettings.maximumLength else { throw Self.invalid("the DPoP proof is too large") }
        // §4.3 items 2-3: a well-formed JWS with a JSON claims set.
        let jws: CompactJWS
        let claims: JWTClaims
        do { (jws, claims) = try CompactJWS.jwt(token) } catch { throw Self.invalid("the DPoP proof is not a well-formed JWT", detail: "\(error)") }
        // §4.3 item 4: typ dpop+jwt (a media type: compared case-insensitively, RFC 7515 §4.1.9).
        guard jws.type?.lowercased() == "dpop+jwt" else { throw Self.invalid("the DPoP proof typ must be dpop+jwt") }
        // §4.3 item 5: an asymmetric algorithm this server supports.
        guard JWSAlgorithm.fapi2.contains(jws.algorithm) else { throw Self.invalid("the DPoP proof alg is not supported") }
        // §4.3 items 6-7: a public key in jwk, never a private one, fitting the algorithm.
        guard let members = jws.header["jwk"]?.objectValue else { throw Self.invalid("the DPoP proof has no jwk") }
        guard members.keys.allSatisfy({ !JWK.privateMemberNames.contains($0) }) else { throw Self.invalid("the DPoP proof jwk must be a public key") }
        // The claims' cheap checks come first; importing the key (OpenSSL's public-key check) and the signature are
        // the costly steps, done last.
        guard let jti = claims["jti"]?.stringValue, !jti.isEmpty, jti.utf8.count <= 256 else { throw Self.invalid("the DPoP proof needs a jti") }
        // §4.3 item 8: htm matches the request's method (case-sensitive, RFC 9110 §9.1).
        guard let htm = claims["htm"]?.stringValue, htm == method else { throw Self.invalid("the DPoP proof htm does not match the request") }
        // §4.3 item 9: htu matches the URL without query and fragment, after RFC 3986 §6.2.2-6.2.3 normalisation.
        guard let htu = claims["htu"]?.stringValue, let normalised = Self.normalised(htu), normalised == Self.normalised(url) else {
            throw Self.invalid("the DPoP proof htu does not match the request")
        }
        // §4.3 items 10-11: iat within the acceptance window (extra nbf/exp are tolerated: no rule names them).
        guard let issuedAt = claims["iat"]?.numericDate else { throw Self.invalid("the DPoP proof needs an iat") }
        let seconds = now.timeIntervalSince1970
        guard issuedAt <= seconds + settings.maximumFuture else { throw Self.invalid("the DPoP proof iat is in the future") }
        guard issuedAt >= seconds - settings.maximumAge else { throw Self.invalid("the DPoP proof is too old") }
        // §4.3 item 12, §7.1: at a resource, ath is base64url(SHA-256(access token)).
        if let accessToken {
            guard let ath = claims["ath"]?.stringValue else { throw Self.invalid("the DPoP proof needs an ath") }
            guard Crypto.constantTimeEqual(ath, Base64URL.encode(Crypto.sha256(accessToken))) else {
                throw Self.invalid("the DPoP proof ath does not match the access token")
            }
        }
        let nonce: String?
        if let value = claims["nonce"] {
            guard let text = value.stringValue, !text.isEmpty else { throw Self.invalid("the DPoP proof nonce must be a string") }
            nonce = text
        } else {
            nonce = nil
        }
        // §4.3 items 6-7: the key itself. Certificate members are no part of a DPoP key (§4.2: a bare public JWK), so
        // they are dropped unparsed.
        let key: JWK
        do { key = try JWK(members: members.filter { $0.key != "x5c" && $0.key != "x5u" && $0.key != "x5t" && $0.key != "x5t#S256" }) } catch {
            throw Self.invalid("the DPoP proof jwk is not a usable key", detail: "\(error)")
        }
        guard jws.algorithm.fits(key.key.kind) else { throw Self.invalid("the DPoP proof alg does not fit its jwk") }
        do { try jws.verify(with: key.key, allowed: JWSAlgorithm.fapi2) } catch {
            throw Self.invalid("the DPoP proof signature does not verify", detail: "\(error)")
        }
        let thumbprint: String
        do { thumbprint = try key.thumbprint } catch { throw Self.invalid("the DPoP proof jwk has no thumbprint", detail: "\(error)") }
        return Checked(checked: DPoPProof(key: key, thumbprint: thumbprint), jti: jti, issuedAt: issuedAt, nonce: nonce)
    }

    static func invalid(_ description: String, detail: String? = nil) -> OAuthError {
        OAuthError(.invalidDPoPProof, description, detail: detail)
    }

    /// An http(s) URL as §4.3 item 9 compares it: scheme and host lowercased, the scheme's default port dropped,
    /// an empty path as `/`, query and fragment removed. Nil when it is not an absolute http(s) URL.
    public static func normalised(_ text: String) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
            let host = components.percentEncodedHost?.lowercased(), !host.isEmpty, components.user == nil, components.password == nil
        else { return nil }
        var authority = host
        if let port = components.port, port != (scheme == "https" ? 443 : 80) { authority += ":\(port)" }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        return "\(scheme)://\(authority)\(path)"
    }
}
