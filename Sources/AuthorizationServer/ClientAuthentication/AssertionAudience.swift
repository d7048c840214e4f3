/// Where a client authenticates, and which `aud` values its `private_key_jwt` assertion may carry there.
public enum ClientAuthEndpoint: String, Sendable, CaseIterable {
    case token = "/token"
    case pushedAuthorization = "/par"
    case revocation = "/revoke"
    case backchannelAuthentication = "/bc-authorize"
}

/// The audience rule for client assertions (RFC 7523 §3 point 3).
public enum AssertionAudienceRule: Sendable, Equatable {
    /// FAPI 1 Advanced and FAPI-CIBA: the issuer, the token endpoint URL, or the URL of the endpoint the assertion
    /// is sent to (RFC 9126 §2: the token endpoint URL at PAR too); an array counts when it holds one of them.
    /// Never another endpoint's URL, so an assertion made for PAR cannot be used at the revocation endpoint.
    case issuerOrEndpoint
    /// FAPI 2.0 Security Profile §5.3.2.1-8: the issuer as a single string, nothing else. For FAPI 2 clients.
    case issuerOnly

    public func accepts(_ audience: [String]?, asString: Bool, issuer: String, endpoint: ClientAuthEndpoint) -> Bool {
        guard let audience, !audience.isEmpty else { return false }
        switch self {
        case .issuerOnly:
            return asString && audience == [issuer]
        case .issuerOrEndpoint:
            let accepted: Set<String> = [issuer, issuer + ClientAuthEndpoint.token.rawValue, issuer + endpoint.rawValue]
            return audience.contains(where: accepted.contains)
        }
    }
}
