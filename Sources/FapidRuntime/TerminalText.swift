import AuthorizationServer
public import JOSE

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

/// JSON for the operator's terminal (every `--json` print of fapictl, and `fapictl audit export`): the same document
/// as `JSON.serialized()`, but each character `DisplayText.isUnsafe` names from DEL up (C1 controls U+0080-U+009F, bidi
/// marks, embeddings, overrides and isolates U+200E/F, U+202A-E, U+2066-9, other format characters, separators,
/// private-use and unassigned code points) written as a `\uXXXX` escape (a surrogate pair above U+FFFF). A JSON
/// parser reads back exactly the same values, while a terminal shown the output is never steered by TPP text. (C0
/// controls are already escaped by the serializer; outside strings JSON is ASCII, so only string content changes.)
public enum TerminalJSON {
    public static func text(_ value: JSON) -> String {
        let serialized = value.serialized()
        var result = String.UnicodeScalarView()
        for scalar in serialized.unicodeScalars {
            guard scalar.value >= 0x7F, DisplayText.isUnsafe(scalar) else {
                result.append(scalar)
                continue
            }
            let units = scalar.value > 0xFFFF ? Array(String(scalar).utf16) : [UInt16(scalar.value)]
            for unit in units {
                let hex = String(unit, radix: 16, uppercase: true)
                result.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
            }
        }
        return String(result)
    }
}
