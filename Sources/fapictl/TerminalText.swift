/// Text for the operator's terminal. Anything a TPP or a customer controls (client names, binding messages,
/// user names) is shown with control characters and bidirectional overrides made visible, so it cannot move
/// the cursor, rewrite earlier lines or reorder what the staff member reads. Table columns are padded, never
/// cut: an id copied from a listing must be whole.
enum TerminalText {
    static func safe(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x00...0x1F, 0x7F...0x9F, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// One table row: each cell padded to its width, with at least one space after it, whatever its length.
    static func row(_ cells: [(String, width: Int)], last: String = "") -> String {
        var line = ""
        for (text, width) in cells {
            let shown = safe(text)
            line += shown + String(repeating: " ", count: max(1, width - shown.count))
        }
        return line + safe(last)
    }
}
