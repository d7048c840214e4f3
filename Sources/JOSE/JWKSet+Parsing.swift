public import OpenSSLKit
internal import Dispatch

extension JWKSet {
    /// Fetched key sets are parsed here, one at a time. The public-key check of up to `maximumKeys`
    /// RSA-4096 keys takes long enough to stall one of the few cooperative threads that serve every
    /// request; on this queue it costs at most one core, whatever a client's `jwks_uri` serves (CWE-400).
    private static let parsingQueue = DispatchQueue(label: "fapid.jose.jwks-parsing", qos: .utility)

    /// `JWKSet(json:)` run on the parsing queue instead of the caller's thread.
    public static func parsedOffThePool(json bytes: [UInt8]) async throws(JOSEError) -> JWKSet {
        let result: Result<JWKSet, JOSEError> = await withCheckedContinuation { continuation in
            parsingQueue.async {
                continuation.resume(returning: Result { () throws(JOSEError) -> JWKSet in try JWKSet(json: bytes) })
            }
        }
        return try result.get()
    }
}
