import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import Testing

/// The settings `authorization_details_pass_through` and `dual_control`: read from the file or the environment
/// (JSON text), checked at load, and a bad value names its key.
@Suite("Authorization details settings")
struct AuthorizationDetailsSettingsTests {
    func error(_ environment: [String: String]) -> ConfigurationError? {
        do {
            _ = try FapidConfiguration.load(file: nil, environment: environment)
            return nil
        } catch {
            return error
        }
    }

    @Test("defaults: no pass-through types, one approver")
    func defaults() throws {
        let config = try FapidConfiguration.load(file: nil, environment: [:])
        #expect(config.authorizationDetails == AuthorizationDetailsSettings())
        #expect(config.authorizationDetails.supportedTypes == ["account_information", "payment_initiation"])
        #expect(config.authorizationDetails.dualControl.approvalsRequired(for: [["type": "payment_initiation"]]) == 1)
    }

    @Test("both settings from the environment, dual control naming a pass-through type")
    func environment() throws {
        let config = try FapidConfiguration.load(
            file: nil,
            environment: [
                "FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH": #"{"card_payment": {"type": "object", "required": ["type"]}}"#,
                "FAPID_DUAL_CONTROL": #"""
                {"payment_initiation": {"above_amount": {"currency": "GBP", "amount": "100.00"}, "approvals_required": 2},
                 "card_payment": {"approvals_required": 3}}
                """#,
            ])
        #expect(config.authorizationDetails.supportedTypes == ["account_information", "card_payment", "payment_initiation"])
        let policy = AuthorizationDetailsPolicy(settings: config.authorizationDetails, clock: SystemClock())
        let payment: JSON = ["type": "payment_initiation", "instructedAmount": ["currency": "GBP", "amount": "100.01"]]
        #expect(policy.approvalsRequired(for: [payment]) == 2)
        #expect(policy.approvalsRequired(for: [["type": "card_payment"]]) == 3)
    }

    @Test("the file too, and a bad file value names its key")
    func file() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fapid-rar-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(#"{"dual_control": {"account_information": {"approvals_required": 2}}}"#.utf8).write(to: URL(fileURLWithPath: path))
        let config = try FapidConfiguration.load(file: path, environment: [:])
        #expect(config.authorizationDetails.dualControl.approvalsRequired(for: [["type": "account_information"]]) == 2)
        try Data(#"{"dual_control": {"account_information": {"approvals_required": 12}}}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ConfigurationError.self) { _ = try FapidConfiguration.load(file: path, environment: [:]) }
    }

    @Test("bad values refuse start-up, naming the key")
    func refused() {
        let dual = "FAPID_DUAL_CONTROL"
        let pass = "FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH"
        let cases: [([String: String], String)] = [
            ([dual: "2"], "dual_control"),
            ([dual: "{not json"], "dual_control"),
            ([dual: #"{"payment_initiation": {"approvals_required": 0}}"#], "dual_control"),
            ([dual: #"{"card_payment": {"approvals_required": 2}}"#], "dual_control"),  // not configured
            ([pass: #"{"t": {"anyOf": []}}"#], "authorization_details_pass_through"),
            ([pass: #"{"t": {"pattern": "[a-"}}"#], "authorization_details_pass_through"),
            ([pass: #"{"account_information": true}"#], "authorization_details_pass_through"),
            ([pass: "[]"], "authorization_details_pass_through"),
        ]
        for (environment, key) in cases {
            let failure = error(environment)
            #expect(failure?.key == key, "\(environment)")
        }
        #expect(error([pass: #"{"t": {"anyOf": []}}"#])?.reason.contains("anyOf") == true)
    }
}
