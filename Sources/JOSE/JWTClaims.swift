public import OpenSSLKit

/// The claims of a JWT (RFC 7519 §4) with typed accessors. Registered claims of the wrong JSON type
/// are reported as malformed, never coerced.
public struct JWTClaims: Sendable {
    public let members: [String: JSON]

    public init(_ members: [String: JSON]) {
        self.members = members
    }

    public subscript(name: String) -> JSON? { members[name] }

    public func string(_ name: String) throws(JOSEError) -> String? {
        guard let value = members[name] else { return nil }
        guard let text = value.stringValue else { throw JOSEError(.malformed, "claim \(name) must be a string") }
        return text
    }

    /// A NumericDate claim (`exp`, `nbf`, `iat`), in seconds since the epoch.
    public func date(_ name: String) throws(JOSEError) -> Double? {
        guard let value = members[name] else { return nil }
        guard let seconds = value.numericDate else { throw JOSEError(.malformed, "claim \(name) must be a NumericDate") }
        return seconds
    }

    /// `aud` as a list: RFC 7519 §4.1.3 allows one string or an array of strings.
    public func audiences() throws(JOSEError) -> [String]? {
        guard let value = members["aud"] else { return nil }
        if let single = value.stringValue { return [single] }
        guard let array = value.arrayValue else { throw JOSEError(.malformed, "aud must be a string or an array") }
        var result: [String] = []
        for entry in array {
            guard let text = entry.stringValue else { throw JOSEError(.malformed, "aud entries must be strings") }
            result.append(text)
        }
        return result
    }

    public var issuer: String? { members["iss"]?.stringValue }
    public var subject: String? { members["sub"]?.stringValue }
    public var jwtID: String? { members["jti"]?.stringValue }
}

/// The time rules a JWT must pass, checked against a time passed in (never the wall clock directly).
public struct JWTValidator: Sendable {
    /// Expected `iss`, or nil to skip.
    public var issuer: String?
    /// Acceptable audiences: the token's `aud` must contain at least one of them. Empty skips the check.
    public var audiences: Set<String>
    /// When true, `aud` must be exactly one string equal to an acceptable audience (FAPI 2 client assertions).
    public var requireSingleAudience: Bool
    /// Claims that must be present.
    public var requiredClaims: Set<String>
    /// Tolerated clock difference in seconds, applied to `exp`, `nbf` and `iat`.
    public var clockSkew: Double
    /// Longest accepted `exp − (nbf or iat)`, in seconds; nil for no limit.
    public var maximumLifetime: Double?
    /// How far in the past `nbf` (or `iat` without `nbf`) may lie, in seconds; nil for no limit (FAPI1-A 5.2.2-16).
    public var maximumAge: Double?

    public init(
        issuer: String? = nil,
        audiences: Set<String> = [],
        requireSingleAudience: Bool = false,
        requiredClaims: Set<String> = ["exp"],
        clockSkew: Double = 10,
        maximumLifetime: Double? = nil,
        maximumAge: Double? = nil
    ) {
        self.issuer = issuer
        self.audiences = audiences
        self.requireSingleAudience = requireSingleAudience
        self.requiredClaims = requiredClaims
        self.clockSkew = clockSkew
        self.maximumLifetime = maximumLifetime
        self.maximumAge = maximumAge
    }

    /// Checks `claims` at `now` (seconds since the epoch).
    public func validate(_ claims: JWTClaims, now: Double) throws(JOSEError) {
        for name in requiredClaims.sorted() where claims[name] == nil {
            throw JOSEError(.missingClaim, "claim \(name) is required")
        }
        let exp = try claims.date("exp")
        let nbf = try claims.date("nbf")
        let iat = try claims.date("iat")
        if let exp, exp <= now - clockSkew { throw JOSEError(.expired, "expired at \(exp)") }
        if let nbf, nbf > now + clockSkew { throw JOSEError(.notYetValid, "not valid before \(nbf)") }
        if let iat, iat > now + clockSkew { throw JOSEError(.issuedInFuture, "issued in the future at \(iat)") }
        if let maximumLifetime, let exp, let start = nbf ?? iat, exp - start > maximumLifetime {
            throw JOSEError(.lifetimeTooLong, "lifetime \(exp - start) s exceeds \(maximumLifetime) s")
        }
        if let maximumAge, let start = nbf ?? iat, start < now - maximumAge {
            throw JOSEError(.lifetimeTooLong, "nbf/iat lies more than \(maximumAge) s in the past")
        }
        if let issuer {
            guard let actual = try claims.string("iss") else { throw JOSEError(.missingClaim, "claim iss is required") }
            guard actual == issuer else { throw JOSEError(.invalidIssuer, "unexpected iss") }
        }
        if !audiences.isEmpty {
            if requireSingleAudience {
                guard let single = claims["aud"]?.stringValue, audiences.contains(single) else {
                    throw JOSEError(.invalidAudience, "aud must be a single acceptable string")
                }
            } else {
                guard let values = try claims.audiences() else { throw JOSEError(.missingClaim, "claim aud is required") }
                guard values.contains(where: audiences.contains) else { throw JOSEError(.invalidAudience, "aud does not name us") }
            }
        }
    }
}
