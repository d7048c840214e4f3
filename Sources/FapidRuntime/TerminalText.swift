import AuthorizationServer

/// Text for the operator's terminal. Anything a TPP or a customer controls (client names, binding messages,
/// user names) is shown with control characters and bidirectional overrides made visible, so it cannot move
/// the cursor, rewrite earlier lines or reorder what the staff member reads. Table columns are padded, never
/// cut: an id copied from a listing must be whole.
public enum TerminalText {
    /// C0 and C1 controls, DEL, format characters (bidi overrides and isolates, zero-width characters), line and
    /// paragraph separators, private-use and unassigned code points, each shown as `\u{1B}`.
    public static func safe(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if DisplayText.isUnsafe(scalar) {
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// One table row: each cell padded to its width, with at least one space after it, whatever its length.
    public static func row(_ cells: [(String, width: Int)], last: String = "") -> String {
        var line = ""
        for (text, width) in cells {
            let shown = safe(text)
            line += shown + String(repeating: " ", count: max(1, width - shown.count))
        }
        return line + safe(last)
    }
}
