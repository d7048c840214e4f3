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
