import AuthorizationServer
import Testing

@Suite("ErrorDescription")
struct ErrorDescriptionTests {
    static let allowed = Set((0x20...0x7E).filter { $0 != 0x22 && $0 != 0x5C }.map { Unicode.Scalar(UInt8($0)) })

    @Test("RFC 6749 §5.2 characters pass unchanged")
    func allowedCharacters() {
        let text = String(String.UnicodeScalarView(Self.allowed.sorted { $0.value < $1.value }))
        #expect(ErrorDescription.wireSafe(text) == text)
        #expect(ErrorDescription.wireSafe("a client certificate is required: tokens are bound to it") == "a client certificate is required: tokens are bound to it")
    }

    @Test("quotes, backslashes, controls and non-ASCII become ?", arguments: [
        ("RFC 8705 §3", "RFC 8705 ?3"), (#"say "hi""#, "say ?hi?"), (#"a\b"#, "a?b"), ("line\nbreak\ttab\r", "line?break?tab?"),
        ("café", "caf?"), ("\u{7F}\u{202E}", "??"),
    ])
    func replaced(input: String, expected: String) {
        #expect(ErrorDescription.wireSafe(input) == expected)
    }

    @Test("every error type sends only wire-safe descriptions and keeps the original for the log")
    func errorsAreSafe() {
        let quoted = #"grant_type "x\y" ünknown (RFC 6749 §5.2)"#
        let oauth = OAuthError(.unsupportedGrantType, quoted)
        #expect(oauth.description.unicodeScalars.allSatisfy(Self.allowed.contains))
        #expect(oauth.detail == quoted)
        let registration = OAuthError(.invalidClientMetadata, quoted)
        #expect(registration.description.unicodeScalars.allSatisfy(Self.allowed.contains))
        #expect(registration.detail == quoted)
        let ciba = OAuthError(.invalidBindingMessage, quoted)
        #expect(ciba.description.unicodeScalars.allSatisfy(Self.allowed.contains))
        #expect(ciba.detail == quoted)
    }
}
