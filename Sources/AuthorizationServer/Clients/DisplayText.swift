/// Text a TPP supplies that people read: client names, binding messages shown to bank staff and customers.
/// It must hold no control characters (C0, C1, DEL), no format characters (bidirectional overrides and
/// isolates, zero-width joiners), no line or paragraph separators and no unassigned or private-use code
/// points, so it cannot drive a terminal or reorder what is shown (CWE-150). Length is bounded in Unicode
/// scalars and UTF-8 bytes, not in grapheme clusters: one "character" may carry any number of combining marks.
public enum DisplayText {
    public static func isSafe(_ text: String) -> Bool {
        !text.unicodeScalars.contains(where: isUnsafe)
    }

    /// The one rule of what must never be shown raw: refused here in TPP input, escaped by the staff terminal
    /// (`TerminalText`) and the text log (`EscapingLogStream`).
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: true
        default: false
        }
    }

    /// Whether `text` is safe and at most `scalars` Unicode scalars and `bytes` UTF-8 bytes long.
    public static func isSafe(_ text: String, scalars: Int, bytes: Int) -> Bool {
        text.unicodeScalars.count <= scalars && text.utf8.count <= bytes && isSafe(text)
    }
}
