internal import COpenSSL
public import OpenSSLKit

/// Where a certificate says its status can be learned: OCSP responders from the Authority Information
/// Access extension (RFC 5280 §4.2.2.1) and HTTP CRL distribution points (§4.2.1.13).
public struct StatusPointers: Sendable, Equatable {
    public var ocsp: [String]
    public var crl: [String]

    public init(of certificate: X509Certificate) {
        (ocsp, crl) = certificate.withX509 { x509 in
            var ocsp: [String] = []
            if let stack = X509_get1_ocsp(x509) {
                for index in 0..<fapid_string_stack_count(stack) {
                    if let value = fapid_string_stack_value(stack, index) { ocsp.append(String(cString: value)) }
                }
                X509_email_free(stack)
            }
            var crl: [String] = []
            if let raw = X509_get_ext_d2i(x509, NID_crl_distribution_points, nil, nil) {
                let points = OpaquePointer(raw)
                for index in 0..<fapid_dist_points_count(points) {
                    guard let point = fapid_dist_points_value(points, index), let name = point.pointee.distpoint,
                        name.pointee.type == 0, let full = name.pointee.name.fullname
                    else { continue }
                    for entry in 0..<fapid_general_names_count(full) {
                        guard let general = fapid_general_names_value(full, entry), general.pointee.type == GEN_URI,
                            let uri = general.pointee.d.uniformResourceIdentifier, let data = ASN1_STRING_get0_data(uri)
                        else { continue }
                        crl.append(String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(uri))), as: UTF8.self))
                    }
                }
                CRL_DIST_POINTS_free(points)
            }
            OpenSSLErrorQueue.clear()
            // Only HTTP(S) is fetched; LDAP and others are ignored.
            let http = { (url: String) in url.hasPrefix("http://") || url.hasPrefix("https://") }
            return (ocsp.filter(http), crl.filter(http))
        }
    }

    public var isEmpty: Bool { ocsp.isEmpty && crl.isEmpty }
}
