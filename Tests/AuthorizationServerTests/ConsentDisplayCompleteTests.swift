import AuthorizationServer
import Foundation
import JOSE
import Testing

/// PSD2 RTS Art. 5 dynamic linking: what is approved is shown whole. Built-in text up to its validated limit (140)
/// is never cut; pass-through details are flattened completely, or are not `displayable` (refused at validation).
@Suite("Consent display is complete")
struct ConsentDisplayCompleteTests {
    @Test("a 140-character payee name and payment details are shown in full")
    func builtInFull() {
        let name = String(repeating: "N", count: 139) + "Z"
        let unstructured = String(repeating: "u", count: 139) + "Q"
        let lines = ConsentDisplay.lines([
            [
                "type": "payment_initiation", "instructedAmount": ["currency": "GBP", "amount": "250.00"], "creditorName": .string(name),
                "creditorAccount": ["iban": "GB29NWBK60161331926819"], "remittanceInformation": ["unstructured": .string(unstructured)],
            ]
        ])
        #expect(lines.first == "Pay 250.00 GBP (£250.00) to \(name)")
        #expect(lines.contains("Payment details: \(unstructured)"))
        #expect(ConsentDisplay.displayable([["type": "payment_initiation", "creditorName": .string(name)]]))
    }

    @Test("nested members and arrays are flattened as path lines, deepest too")
    func flattened() {
        let detail: JSON = [
            [
                "type": "loan", "limits": ["daily": ["amount": "500", "currency": "EUR"], "tags": []], "claims": ["name", ["k": true]],
                "note": .null,
            ]
        ]
        #expect(ConsentDisplay.displayable(detail))
        #expect(
            ConsentDisplay.lines(detail) == [
                "loan", "loan: claims[0]: name", "loan: claims[1].k: yes", "loan: limits.daily.amount: 500", "loan: limits.daily.currency: EUR",
                "loan: limits.tags: (empty)", "loan: note: none",
            ])
    }

    @Test("40 member lines are displayable, 41 are not; a line of 200 characters is, of 201 is not")
    func bounds() {
        func detail(_ members: Int, value: Int = 1) -> JSON {
            var object: [String: JSON] = ["type": "t"]
            for index in 0..<members { object[String(format: "k%02d", index)] = .string(String(repeating: "v", count: value)) }
            return [.object(object)]
        }
        #expect(ConsentDisplay.displayable(detail(40)))
        #expect(ConsentDisplay.lines(detail(40)).count == 41)
        #expect(!ConsentDisplay.displayable(detail(41)))
        // "t: k00: " is 8 characters.
        #expect(ConsentDisplay.displayable(detail(1, value: 192)))
        #expect(ConsentDisplay.lines(detail(1, value: 192)).last?.unicodeScalars.count == 200)
        #expect(!ConsentDisplay.displayable(detail(1, value: 193)))
        // Nested arrays count every element.
        #expect(!ConsentDisplay.displayable([["type": "t", "a": .array((0..<41).map { .int(Int64($0)) })]]))
        #expect(ConsentDisplay.displayable([["type": "account_information", "actions": ["balances"]]]))
    }
}
