public import OpenSSLKit

/// A JSON Web Key (RFC 7517) with its parsed key.
///
/// `members` keeps every member as received (or as exported), so metadata such as `use`, `key_ops`
/// and `x5c` survive a round trip; `key` is the OpenSSL key, parsed once.
public struct JWK: Sendable {
    public let members: [String: JSON]
    public let key: AsymmetricKey

    public var kid: String? { members["kid"]?.stringValue }
    public var use: String? { members["use"]?.stringValue }
    public var algorithm: String? { members["alg"]?.stringValue }
    public var keyType: String { members["kty"]?.stringValue ?? "" }

    /// Parses a JWK object; with `x5c`, the first certificate must carry this very key (RFC 7517 §4.7),
    /// and `x5t#S256`, when present, must be its thumbprint.
    public init(members: [String: JSON]) throws(JOSEError) {
        self.key = try AsymmetricKey.fromJWKMembers(members)
        self.members = members
        if let alg = members["alg"]?.stringValue, let known = JWSAlgorithm(rawValue: alg), !known.fits(key.kind) {
            throw JOSEError(.algorithmMismatch, "JWK alg \(alg) does not fit a \(key.kind) key")
        }
        if let chain = try certificateChain() {
            guard try chain[0].publicKey().hasSamePublicKey(as: key) else {
                throw JOSEError(.invalidKey, "x5c certificate does not hold the JWK's key")
            }
            if let thumbprint = members["x5t#S256"]?.stringValue, thumbprint != chain[0].sha256Thumbprint {
                throw JOSEError(.invalidKey, "x5t#S256 does not match x5c")
            }
        }
    }

    public init(json bytes: [UInt8]) throws(JOSEError) {
        try self.init(members: try JSON.parseObject(bytes))
    }

    /// Exports `key` as a JWK with `kid` (the RFC 7638 thumbprint unless given), `use` and `alg`.
    public init(key: AsymmetricKey, kid: String? = nil, use: String? = "sig", algorithm: JWSAlgorithm? = nil, includePrivate: Bool = false)
        throws(JOSEError)
    {
        var members = try key.jwkMembers(includePrivate: includePrivate)
        if let kid {
            members["kid"] = .string(kid)
        } else {
            members["kid"] = .string(try JWK.thumbprint(of: key))
        }
        if let use { members["use"] = .string(use) }
        if let algorithm { members["alg"] = .string(algorithm.rawValue) }
        self.members = members
        self.key = key
    }

    /// The public members only: what goes into a published JWKS.
    public var publicMembers: [String: JSON] { members.filter { !Self.privateMemberNames.contains($0.key) } }

    /// The members that carry private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4).
    public static let privateMemberNames: Set<String> = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    /// The RFC 7638 JWK thumbprint: base64url(SHA-256) of the required public members in lexicographic order.
    public static func thumbprint(of key: AsymmetricKey) throws(JOSEError) -> String {
        let members = try key.jwkMembers(includePrivate: false)
        let required: [String] =
            switch key.kind {
            case .rsa: ["e", "kty", "n"]
            case .p256: ["crv", "kty", "x", "y"]
            case .ed25519: ["crv", "kty", "x"]
            }
        let canonical = JSON.object(members.filter { required.contains($0.key) }).serialized()
        return Base64URL.encode(Crypto.sha256(canonical))
    }

    public var thumbprint: String {
        get throws(JOSEError) { try JWK.thumbprint(of: key) }
    }

    /// The `x5c` chain (standard base64 DER, leaf first), or nil when the JWK has none.
    public func certificateChain() throws(JOSEError) -> [X509Certificate]? {
        guard let value = members["x5c"] else { return nil }
        return try X509Certificate.chain(x5c: value)
    }
}

/// A JWK Set (RFC 7517 §5).
public struct JWKSet: Sendable {
    public let keys: [JWK]
    /// How many entries were skipped because their `kty` or curve is not one we use (RFC 7517 §5 says ignore them).
    public let skipped: Int

    public init(keys: [JWK]) {
        self.keys = keys
        self.skipped = 0
    }

    /// Largest JWKS document accepted, in bytes, and the most entries in its `keys` array: checked before
    /// any key is parsed, so one document costs a bounded amount of work (CWE-400). 32 keys of RSA-4096
    /// with a certificate each fit comfortably.
    public static let maximumDocumentSize = 64 * 1024
    public static let maximumKeys = 32

    /// Parses a JWKS document. Keys of unknown types are skipped; a malformed key of a known type fails the set.
    public init(json bytes: [UInt8]) throws(JOSEError) {
        guard bytes.count <= Self.maximumDocumentSize else {
            throw JOSEError(.tooLarge, "JWKS of \(bytes.count) bytes exceeds \(Self.maximumDocumentSize)")
        }
        guard let entries = try JSON.parseObject(bytes)["keys"]?.arrayValue else {
            throw JOSEError(.malformed, "JWKS has no keys array")
        }
        guard entries.count <= Self.maximumKeys else {
            throw JOSEError(.tooLarge, "JWKS has \(entries.count) keys; at most \(Self.maximumKeys) accepted")
        }
        var keys: [JWK] = []
        var skipped = 0
        for entry in entries {
            guard let members = entry.objectValue else { throw JOSEError(.malformed, "JWKS entry is not an object") }
            do {
                keys.append(try JWK(members: members))
            } catch where error.code == .invalidKey && !["RSA", "EC", "OKP"].contains(members["kty"]?.stringValue ?? "") {
                skipped += 1
            } catch where error.code == .weakKey && members["kty"]?.stringValue == "EC" {
                // Other curves are legal in a JWKS; they are just not usable here.
                skipped += 1
            }
        }
        self.keys = keys
        self.skipped = skipped
    }

    /// The keys that may verify a JWS with this header: matching `kid` when given, fitting the algorithm,
    /// and not marked for another use.
    public func candidates(kid: String?, algorithm: JWSAlgorithm) -> [JWK] {
        keys.filter { jwk in
            (kid == nil || jwk.kid == kid) && algorithm.fits(jwk.key.kind) && (jwk.use == nil || jwk.use == "sig")
                && (jwk.algorithm == nil || jwk.algorithm == algorithm.rawValue)
        }
    }

    public var publicJSON: JSON {
        .object(["keys": .array(keys.map { .object($0.publicMembers) })])
    }
}
