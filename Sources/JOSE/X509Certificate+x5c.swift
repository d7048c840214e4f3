public import OpenSSLKit

extension X509Certificate {
    /// An `x5c` value (RFC 7515 §4.1.6, RFC 7517 §4.7): a non-empty array of standard-base64 DER
    /// certificates, leaf first.
    public static func chain(x5c value: JSON) throws(JOSEError) -> [X509Certificate] {
        guard let entries = value.arrayValue, !entries.isEmpty else { throw JOSEError(.malformed, "x5c must be a non-empty array") }
        var chain: [X509Certificate] = []
        for entry in entries {
            guard let text = entry.stringValue else { throw JOSEError(.malformed, "x5c entries must be strings") }
            chain.append(try X509Certificate(der: try Base64URL.decodeStandard(text)))
        }
        return chain
    }
}
