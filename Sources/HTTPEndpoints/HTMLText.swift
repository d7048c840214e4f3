/// HTML escaping per Unicode scalar. swift-mustache's `{{ }}` escapes per `Character`, so a `"` followed by a
/// combining mark (U+0301: one grapheme cluster) passes unescaped and ends an attribute value. The pages
/// therefore escape every value here and insert it with `{{{ }}}`.
enum HTMLText {
    /// `value` with `&`, `<`, `>`, `"`, `'` and `` ` `` replaced by character references, scalar by scalar.
    static func escape(_ value: String) -> String {
        var escaped = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": escaped.append(contentsOf: "&amp;".unicodeScalars)
            case "<": escaped.append(contentsOf: "&lt;".unicodeScalars)
            case ">": escaped.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": escaped.append(contentsOf: "&quot;".unicodeScalars)
            case "'": escaped.append(contentsOf: "&#39;".unicodeScalars)
            case "`": escaped.append(contentsOf: "&#96;".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// Every string in a page's values (through arrays and dictionaries) escaped; other values as they are.
    static func escaping(_ value: Any) -> Any {
        switch value {
        case let text as String: escape(text)
        case let object as [String: Any]: object.mapValues(escaping)
        case let array as [Any]: array.map(escaping)
        default: value
        }
    }
}
