import AuthorizationServer
import Foundation
import JOSE
import Testing

@Suite("DisplayText")
struct DisplayTextTests {
    @Test("printable text in any script passes", arguments: ["Example TPP Ltd", "Zahlung an Müller GmbH", "支付", "1234", "Café – 5 €"])
    func printable(text: String) {
        #expect(DisplayText.isSafe(text))
    }

    @Test("controls, format and bidi characters, separators and private use are refused", arguments: [
        "\u{1B}[2J", "a\u{9B}31m", "tab\there", "line\nbreak", "\u{7F}", "\u{202E}evil", "\u{2066}x\u{2069}", "\u{200B}", "\u{2028}", "\u{2029}",
        "\u{E000}",
    ])
    func refused(text: String) {
        #expect(!DisplayText.isSafe(text))
    }

    @Test("length is counted in scalars and bytes, not grapheme clusters")
    func combiningMarks() {
        let one = "a" + String(repeating: "\u{0301}", count: 500)
        #expect(one.count == 1)
        #expect(!DisplayText.isSafe(one, scalars: 64, bytes: 256))
        #expect(DisplayText.isSafe(String(repeating: "é", count: 64), scalars: 64, bytes: 256))
    }

    @Test("client display metadata with control or bidi characters is invalid_client_metadata")
    func clientMetadata() throws {
        func field(_ name: String, _ value: JSON) -> String? {
            do {
                _ = try Client(clientID: "c", metadata: ["tls_client_auth_subject_dn": "CN=a,C=GB", .init(name): value], createdAt: Date())
                return nil
            } catch {
                return error.field
            }
        }
        #expect(field("client_name", "\u{1B}]52;c;ZXZpbA==\u{07}Good Bank") == "client_name")
        #expect(field("client_name", "Pay\u{202E}evil") == "client_name")
        #expect(field("contacts", ["ops@tpp.example", "x\ny"]) == "contacts")
        #expect(field("client_name", "Example TPP") == nil)
    }

    @Test("registered signing algorithms are enforced per object (OIDC Registration 2)")
    func registeredAlgorithms() throws {
        let client = try Client(
            clientID: "c",
            metadata: [
                "tls_client_auth_subject_dn": "CN=a,C=GB", "request_object_signing_alg": "ES256",
                "backchannel_authentication_request_signing_alg": "PS256",
            ], createdAt: Date())
        #expect(client.allowedAlgorithms(for: .requestObject) == [.ES256])
        #expect(client.allowedAlgorithms(for: .backchannelRequest) == [.PS256])
        #expect(client.allowedAlgorithms(for: .clientAssertion) == JWSAlgorithm.fapi)
    }
}
