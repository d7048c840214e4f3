/// The wire form of an `error_description`: RFC 6749 §5.2 allows only `%x20-21 / %x23-5B / %x5D-7E`
/// (printable ASCII without `"` and `\`); RFC 7591 §3.2.2, RFC 7662 and RFC 6750 §3 refer to the same rule.
/// Descriptions may quote what a client sent, so every character outside the set becomes `?`.
/// Spec references belong in comments and logs (the error's `detail`), never on the wire.
public enum ErrorDescription {
    public static func wireSafe(_ text: String) -> String {
        var result = String.UnicodeScalarView()
        var changed = false
        for scalar in text.unicodeScalars {
            if isAllowed(scalar) {
                result.append(scalar)
            } else {
                result.append("?")
                changed = true
            }
        }
        return changed ? String(result) : text
    }

    public static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20...0x21, 0x23...0x5B, 0x5D...0x7E: true
        default: false
        }
    }
}
