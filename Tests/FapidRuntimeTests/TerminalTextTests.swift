import JOSE
import FapidRuntime
import Testing

@Suite("TerminalText")
struct TerminalTextTests {
    @Test("no raw control, C1, bidi or separator character reaches the terminal", arguments: [
        "\u{1B}]52;c;ZXZpbA==\u{07}", "\u{9B}2J", "\u{1B}[1A\u{1B}[2KApprove", "Pay\u{202E}gnp.exe", "\u{2028}new line", "zero\u{200B}width",
    ])
    func escaped(text: String) {
        let shown = TerminalText.safe(text)
        #expect(shown.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) })
        #expect(!shown.unicodeScalars.contains { [0x202E, 0x2028, 0x200B].contains($0.value) })
        #expect(shown.contains("\\u{"))
    }

    @Test("printable text is shown as it is, in any script")
    func printable() {
        #expect(TerminalText.safe("Zahlung an Müller – 5 €") == "Zahlung an Müller – 5 €")
    }

    @Test("table cells are padded, never cut")
    func rows() {
        let id = String(repeating: "a", count: 40)
        #expect(TerminalText.row([(id, 26), ("tls_client_auth", 30)], last: "name") == id + " " + "tls_client_auth" + String(repeating: " ", count: 15) + "name")
    }
}

/// `TerminalJSON.text`, the one JSON printer of fapictl (`--json`, `audit export`, `audit export --consent`).
@Suite("TerminalJSON")
struct TerminalJSONTests {
    @Test("C1, bidi and format characters in strings are \\u escapes; the document parses back to the same value", arguments: [
        "\u{9B}2J", "Pay\u{202E}gnp.exe", "\u{200E}\u{200F}", "\u{202A}\u{202B}\u{202C}\u{202D}", "\u{2066}\u{2067}\u{2068}\u{2069}", "\u{85}next",
        "del\u{7F}", "plane15 \u{F0000}", "\u{2028}sep",
    ])
    func escaped(text: String) throws {
        let value: JSON = ["creditorName": .string(text), "nested": [["k": .string(text)]]]
        let printed = TerminalJSON.text(value)
        #expect(printed.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }, "\(printed.debugDescription)")
        #expect(try JSON.parse(Array(printed.utf8)) == value)
    }

    @Test("ordinary text, including non-ASCII letters and symbols, is printed as the serializer writes it")
    func unchanged() {
        let value: JSON = ["creditorName": "Café Zoë £250.00 — 東京", "amount": "250.00", "n": 3]
        #expect(TerminalJSON.text(value) == value.serialized())
        #expect(TerminalJSON.text("\u{202E}") == #""\u202E""#)
    }
}
