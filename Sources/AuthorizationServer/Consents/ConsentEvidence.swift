public import JOSE
import OpenSSLKit

/// The dynamic-linking evidence of a consent (PSD2 RTS Art. 5): the SHA-256 of the RFC 8785 canonical form of
/// what was requested and of what was shown and approved, written into the reason of every `consent.*` audit
/// event as `key=value` words, so the audit chain proves it and `fapictl audit export --consent ID` finds it.
public enum ConsentEvidence {
    /// SHA-256 (lowercase hex) over the JCS form of `authorization_details`.
    public static func detailsHash(_ details: JSON) -> String {
        Crypto.hex(Crypto.sha256(details.canonicalBytes))
    }

    /// The reason text of a `consent.*` event: `consent=<id>` first, then each field as `key=value`. Values are
    /// the server's own (ids, hashes, acr values, counts, enum names); a space or `=` in one is replaced by `_` so
    /// the words always split back the same way.
    public static func reason(consentID: String, _ fields: KeyValuePairs<String, String?>) -> String {
        var words = ["consent=\(clean(consentID))"]
        for (key, value) in fields {
            guard let value else { continue }
            words.append("\(key)=\(clean(value))")
        }
        return words.joined(separator: " ")
    }

    /// The `key=value` words of a reason written by `reason`; empty when it is not one. `reason` always writes
    /// `consent=<id>` first, so a reason that does not start with it (one embedding text a client chose, such as a
    /// requested scope) is never read as a consent's evidence.
    public static func fields(of reason: String?) -> [String: String] {
        guard let reason, reason.hasPrefix("consent=") else { return [:] }
        var fields: [String: String] = [:]
        for word in reason.split(separator: " ") {
            guard let equals = word.firstIndex(of: "=") else { continue }
            fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
        }
        return fields["consent"] == nil ? [:] : fields
    }

    static func clean(_ value: String) -> String {
        String(value.map { $0 == " " || $0 == "=" || $0.isNewline ? "_" : $0 })
    }
}
