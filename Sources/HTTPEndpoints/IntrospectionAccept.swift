import AuthorizationServer
import Foundation

/// Which introspection response a resource server's `Accept` header asks for (RFC 9701 §4, RFC 9110 §12.5.1).
enum IntrospectionAccept {
    /// Whether `accept` names `application/token-introspection+jwt` with a non-zero weight at least that of an
    /// explicit `application/json`. No header, `application/json`, wildcards alone: the JSON of RFC 7662.
    static func wantsJWT(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var jwt = 0.0
        var json = 0.0
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let type = parts.first?.lowercased() else { continue }
            var weight = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "q" { weight = Double(pair[1]).map { min(max($0, 0), 1) } ?? 0 }
            }
            if type == IntrospectionResponseJWT.mediaType { jwt = max(jwt, weight) } else if type == "application/json" { json = max(json, weight) }
        }
        return jwt > 0 && jwt >= json
    }
}
