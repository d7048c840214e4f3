public import JOSE
public import OpenSSLKit

/// One of the server's signing keys as token issuers use it: signs on the caller's thread for a key in a file or the
/// database (microseconds), on the `SigningPool` for a key in a hardware token (which may take hundreds of
/// milliseconds and must not hold a cooperative thread). Every signature is timed into `fapid_signing_seconds` and
/// every failure counted in `fapid_signing_errors_total`, labelled by `kid`.
public struct ServerSigner: Sendable {
    public let key: SigningKey
    let pool: SigningPool?

    public init(key: SigningKey, pool: SigningPool?) {
        self.key = key
        self.pool = pool
        // The error counter is exported from the key's load on (at 0), so an alert on its rate needs no first error.
        ServerMetrics.signingErrors.increment(key.kid, by: 0)
    }

    /// How long a request waits for a token's signature before it fails (`server_error`): a token that hangs must not
    /// hold requests until their connections time out.
    public static let tokenDeadline: Duration = .seconds(10)

    public var kid: String { key.kid }
    public var algorithm: JWSAlgorithm { key.algorithm }
    /// Whether the private key lives in a hardware token.
    public var isInToken: Bool { pool != nil }

    /// Signs `payload` as a compact JWS with `alg`, `kid` and any `extraHeader` members (`typ`, …).
    /// `deadline` bounds the wait for a token's signature (nil: wait until it answers, as a health probe does, which
    /// keeps its own timer and must know when the token is free again).
    public func sign(payload: [UInt8], extraHeader: [String: JSON] = [:], deadline: Duration? = tokenDeadline) async throws(JOSEError) -> String {
        let key = self.key
        let started = ContinuousClock.now
        let result: Result<String, JOSEError>
        if let pool {
            result = await pool.run(timeout: deadline) { () throws(JOSEError) -> String in
                try PKCS11Token.whileSigning { () throws(JOSEError) -> String in try key.sign(payload: payload, extraHeader: extraHeader) }
            }
        } else {
            result = Result { () throws(JOSEError) -> String in try key.sign(payload: payload, extraHeader: extraHeader) }
        }
        let elapsed = ContinuousClock.now - started
        ServerMetrics.signingSeconds.recordNanoseconds(
            key.kid, elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        if case .failure = result { ServerMetrics.signingErrors.increment(key.kid) }
        return try result.get()
    }

    /// Signs a JWT whose claims are `claims`.
    public func sign(claims: [String: JSON], type: String? = "JWT") async throws(JOSEError) -> String {
        try await sign(payload: JSON.object(claims).bytes, extraHeader: type.map { ["typ": .string($0)] } ?? [:])
    }
}
