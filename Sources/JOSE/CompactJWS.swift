public import OpenSSLKit

/// A parsed JWS in compact serialization (RFC 7515 §7.1), not yet verified.
///
/// Parsing enforces the structural rules every caller needs: three segments, strict base64url,
/// a JSON object header with a known `alg`, no unknown `crit` extension, no `b64: false`,
/// and a size limit. Verification is a separate step that names the key and the allowed algorithms.
public struct CompactJWS: Sendable {
    /// Default upper bound on a compact JWS: request objects and assertions are far smaller.
    public static let defaultMaximumLength = 64 * 1024

    public let header: [String: JSON]
    public let algorithm: JWSAlgorithm
    public let payload: [UInt8]
    public let signature: [UInt8]
    /// `BASE64URL(header) '.' BASE64URL(payload)`, the bytes the signature covers.
    public let signingInput: [UInt8]

    public var kid: String? { header["kid"]?.stringValue }
    public var type: String? { header["typ"]?.stringValue }

    /// Header parameters this library understands when listed in `crit`. None so far: `b64` is refused.
    static let understoodCriticalHeaders: Set<String> = []

    public init(_ token: String, maximumLength: Int = CompactJWS.defaultMaximumLength) throws(JOSEError) {
        guard token.utf8.count <= maximumLength else {
            throw JOSEError(.tooLarge, "JWS of \(token.utf8.count) bytes exceeds \(maximumLength)")
        }
        let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3 else {
            throw JOSEError(.malformed, segments.count == 5 ? "JWE is not accepted here" : "compact JWS needs 3 segments, got \(segments.count)")
        }
        guard !segments[0].isEmpty, !segments[2].isEmpty else { throw JOSEError(.malformed, "empty header or signature segment") }
        let headerBytes = try Base64URL.decode(Substring(segments[0]))
        let header = try JSON.parseObject(headerBytes)
        guard let alg = header["alg"]?.stringValue else { throw JOSEError(.malformed, "JWS header has no alg") }
        guard let algorithm = JWSAlgorithm(rawValue: alg) else {
            throw JOSEError(.unsupportedAlgorithm, "alg \(alg) is not supported")
        }
        if let crit = header["crit"] {
            // RFC 7515 §4.1.11: a non-empty array of names, each of which we must understand.
            guard let names = crit.arrayValue, !names.isEmpty else { throw JOSEError(.malformed, "crit must be a non-empty array") }
            for name in names {
                guard let name = name.stringValue else { throw JOSEError(.malformed, "crit entries must be strings") }
                guard Self.understoodCriticalHeaders.contains(name) else {
                    throw JOSEError(.unsupportedCriticalHeader, "crit names \(name), which is not understood")
                }
            }
        }
        if let b64 = header["b64"] {
            guard b64.boolValue == true else { throw JOSEError(.unencodedPayload, "b64: false is not supported") }
        }
        self.header = header
        self.algorithm = algorithm
        self.payload = try Base64URL.decode(Substring(segments[1]))
        self.signature = try Base64URL.decode(Substring(segments[2]))
        self.signingInput = Array(segments[0]) + [UInt8(ascii: ".")] + Array(segments[1])
    }

    /// Verifies the signature with `key`, allowing only `allowed` algorithms.
    public func verify(with key: AsymmetricKey, allowed: Set<JWSAlgorithm>) throws(JOSEError) {
        guard allowed.contains(algorithm) else { throw JOSEError(.algorithmMismatch, "alg \(algorithm) is not allowed here") }
        try key.verify(signature: signature, input: signingInput, algorithm: algorithm)
    }

    /// Verifies against a key set: the keys matching `kid` (all fitting keys when the header has none).
    /// Returns the key that verified.
    @discardableResult
    public func verify(with keys: JWKSet, allowed: Set<JWSAlgorithm>) throws(JOSEError) -> JWK {
        guard allowed.contains(algorithm) else { throw JOSEError(.algorithmMismatch, "alg \(algorithm) is not allowed here") }
        let candidates = keys.candidates(kid: kid, algorithm: algorithm)
        guard !candidates.isEmpty else { throw JOSEError(.invalidSignature, "no key fits kid \(kid ?? "(none)") and alg \(algorithm)") }
        for candidate in candidates {
            if (try? candidate.key.verify(signature: signature, input: signingInput, algorithm: algorithm)) != nil {
                return candidate
            }
        }
        throw JOSEError(.invalidSignature, "\(algorithm) signature does not verify with any candidate key")
    }

    /// The payload as a JSON object (JWT claims).
    public func claims() throws(JOSEError) -> JWTClaims {
        JWTClaims(try JSON.parseObject(payload))
    }

    /// A signed JWT read in one step: the JWS and its claims (neither verified yet).
    public static func jwt(_ token: String) throws(JOSEError) -> (jws: CompactJWS, claims: JWTClaims) {
        let jws = try CompactJWS(token)
        return (jws, try jws.claims())
    }

    /// The `x5c` header chain, leaf first (RFC 7515 §4.1.6), or nil.
    public func certificateChain() throws(JOSEError) -> [X509Certificate]? {
        guard let value = header["x5c"] else { return nil }
        return try X509Certificate.chain(x5c: value)
    }
}

/// A key that signs: the private key, its algorithm and the `kid` published beside it.
public struct SigningKey: Sendable {
    public let key: AsymmetricKey
    public let algorithm: JWSAlgorithm
    public let kid: String
    /// Initialised once; EdDSA (one-shot signing, not copyable) and token keys sign without one.
    let prepared: PreparedSigner?

    public init(key: AsymmetricKey, algorithm: JWSAlgorithm, kid: String) throws(JOSEError) {
        guard key.isPrivate else { throw JOSEError(.invalidKey, "signing key \(kid) has no private part") }
        guard algorithm.fits(key.kind), JWSAlgorithm.signing.contains(algorithm) else {
            throw JOSEError(.algorithmMismatch, "\(algorithm) cannot sign with a \(key.kind) key")
        }
        self.key = key
        self.algorithm = algorithm
        self.kid = kid
        // A token key is initialised per signature: the token's own latency dwarfs it, and an engine context is not
        // copied across threads.
        prepared = algorithm == .EdDSA || key.isInToken ? nil : try PreparedSigner(key: key, algorithm: algorithm)
    }

    /// Signs `payload` as a compact JWS with `alg`, `kid` and any `extraHeader` members (`typ`, …).
    public func sign(payload: [UInt8], extraHeader: [String: JSON] = [:]) throws(JOSEError) -> String {
        var header = extraHeader
        header["alg"] = .string(algorithm.rawValue)
        header["kid"] = .string(kid)
        let signingInput = Base64URL.encode(JSON.object(header).bytes) + "." + Base64URL.encode(payload)
        let signature = try key.sign(Array(signingInput.utf8), algorithm: algorithm, prepared: prepared)
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Signs a JWT whose claims are `claims`.
    public func sign(claims: [String: JSON], type: String? = "JWT") throws(JOSEError) -> String {
        try sign(payload: JSON.object(claims).bytes, extraHeader: type.map { ["typ": .string($0)] } ?? [:])
    }

    /// The public JWK published for this key.
    public func publicJWK() throws(JOSEError) -> JWK {
        try JWK(key: key, kid: kid, use: "sig", algorithm: algorithm)
    }
}
