public import Foundation
public import JOSE

/// The FAPI profile a client follows (fapid client metadata `fapi_profile`). It is a policy value: the request
/// check table, client authentication and token issuing read the rules from it, never from scattered tests of
/// the profile's name. `docs/profiles.md` lists what each profile requires and refuses, clause by clause.
public enum FAPIProfile: String, Sendable, CaseIterable, Codable {
    /// FAPI 1.0 Advanced Final (hybrid flow, JARM): fapid's behaviour before profiles existed, and the default.
    case fapi1Advanced = "fapi1-advanced"
    /// FAPI 2.0 Security Profile Final.
    case fapi2SecurityProfile = "fapi2-security-profile"
    /// FAPI 2.0 Security Profile with FAPI 2.0 Message Signing Final (signed requests at PAR, JARM).
    case fapi2MessageSigning = "fapi2-message-signing"

    /// The metadata member that names the profile.
    public static let metadataMember = "fapi_profile"

    /// Whether this is one of the FAPI 2.0 profiles.
    public var isFAPI2: Bool { self != .fapi1Advanced }

    /// The rules of this profile.
    public var policy: ProfilePolicy {
        switch self {
        case .fapi1Advanced: .fapi1Advanced
        case .fapi2SecurityProfile: .fapi2SecurityProfile
        case .fapi2MessageSigning: .fapi2MessageSigning
        }
    }

    /// `metadata` with the profile named: its own `fapi_profile` if it has one, else `serverDefault` (the setting
    /// `fapi_profile`), so the registered value shows back. A client registered with `fapi: false` follows no FAPI
    /// profile and is left as it is.
    public static func resolving(_ metadata: [String: JSON], serverDefault: FAPIProfile) -> [String: JSON] {
        guard metadata[metadataMember] == nil, metadata["fapi"]?.boolValue != false else { return metadata }
        var resolved = metadata
        resolved[metadataMember] = .string(serverDefault.rawValue)
        return resolved
    }
}

/// What one FAPI profile requires and refuses, as values the rules read (the check table's rows, client
/// registration, client authentication, PAR). One constant per profile; `docs/profiles.md` explains each member.
public struct ProfilePolicy: Sendable, Equatable {
    /// The `response_type` values a client may register and request. FAPI 1 Advanced §5.2.2-2: `code id_token`,
    /// or `code` with JARM. FAPI 2 SP §5.3.2.2-1: `code` only.
    public let responseTypes: Set<String>
    /// Whether every authorization request must be pushed (RFC 9126), whatever the client registered as
    /// `require_pushed_authorization_requests`. FAPI 2 SP §5.3.2.2-2. FAPI 1: the client's metadata decides.
    /// PKCE S256 is required at `/par` for every profile (FAPI 1 Advanced §5.2.2-18), so with this, on every FAPI 2
    /// request (FAPI 2 SP §5.3.2.2-3); `plain` is refused for everyone.
    public let requiresPushedRequests: Bool
    /// Whether `/par` takes only a signed request object (FAPI 1 Advanced §5.2.2-1, FAPI 2 Message Signing §5.3.2-1);
    /// false: form parameters are accepted too, and a signed request object is checked as usual when sent.
    public let requiresSignedRequestAtPAR: Bool
    /// Whether `response_type=code` needs a JARM response mode (FAPI 1 Advanced §5.2.2-2, for FAPI clients).
    public let codeNeedsJARM: Bool
    /// Whether a request for `openid` needs a `nonce` (FAPI 1 Advanced §5.2.2.2). FAPI 2 relies on PKCE.
    public let nonceRequiredWithOpenID: Bool
    /// Whether a request without `openid` needs a `state` (FAPI 1 Baseline §5.2.2.3). FAPI 2 relies on PKCE.
    public let stateRequiredWithoutOpenID: Bool
    /// Which `aud` values a `private_key_jwt` assertion may carry (FAPI 2 SP §5.3.2.1-8: the issuer alone).
    public let assertionAudience: AssertionAudienceRule
    /// Clock tolerance for a client assertion's `iat`, `nbf` and `exp`, in seconds; nil: the server's setting.
    /// FAPI 2 SP §5.3.2.1-13: `iat`/`nbf` up to 10 s in the future accepted (more than 60 s refused).
    public let assertionClockSkew: TimeInterval?
    /// The JWS algorithms the client may register and sign with, and the server signs its objects with
    /// (FAPI 1 Advanced §8.6: PS256, ES256; FAPI 2 SP §5.4.1-1: PS256, ES256, EdDSA).
    public let signingAlgorithms: Set<JWSAlgorithm>
    /// The longest `expires_in` of a `request_uri`, in seconds; nil: the server's setting alone.
    /// FAPI 2 SP §5.3.2.2-12: shorter than 600 s.
    public let maximumPushedRequestLifetime: TimeInterval?
    /// Whether tokens may be sender-constrained by DPoP (RFC 9449) besides the client certificate. FAPI 2 SP
    /// §5.3.2.1-4/5: mTLS or DPoP. FAPI 1 Advanced §5.2.2-4 knows certificate binding only: a FAPI 1 client's `DPoP`
    /// header and `dpop_jkt` are ignored, as they were before DPoP existed here.
    public let offersDPoP: Bool

    /// FAPI 1.0 Advanced Final: today's rules.
    public static let fapi1Advanced = ProfilePolicy(
        responseTypes: ["code id_token", "code"], requiresPushedRequests: false, requiresSignedRequestAtPAR: true,
        codeNeedsJARM: true, nonceRequiredWithOpenID: true, stateRequiredWithoutOpenID: true, assertionAudience: .issuerOrEndpoint,
        assertionClockSkew: nil, signingAlgorithms: JWSAlgorithm.fapi, maximumPushedRequestLifetime: nil, offersDPoP: false)

    /// FAPI 2.0 Security Profile Final.
    public static let fapi2SecurityProfile = ProfilePolicy(
        responseTypes: ["code"], requiresPushedRequests: true, requiresSignedRequestAtPAR: false, codeNeedsJARM: false,
        nonceRequiredWithOpenID: false, stateRequiredWithoutOpenID: false, assertionAudience: .issuerOnly, assertionClockSkew: 10,
        signingAlgorithms: JWSAlgorithm.fapi2, maximumPushedRequestLifetime: 599, offersDPoP: true)

    /// FAPI 2.0 Security Profile with Message Signing Final: the Security Profile, with signed requests at PAR.
    public static let fapi2MessageSigning = ProfilePolicy(
        responseTypes: ["code"], requiresPushedRequests: true, requiresSignedRequestAtPAR: true, codeNeedsJARM: false,
        nonceRequiredWithOpenID: false, stateRequiredWithoutOpenID: false, assertionAudience: .issuerOnly, assertionClockSkew: 10,
        signingAlgorithms: JWSAlgorithm.fapi2, maximumPushedRequestLifetime: 599, offersDPoP: true)

    /// Whether the hybrid flow (and so the `implicit` grant type beside it) is allowed.
    public var allowsHybrid: Bool { responseTypes.contains("code id_token") }
}
