import ArgumentParser
import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE

/// The bank's view of consents (issue 19): list, show and revoke them through the running daemon's admin socket.
/// A revocation is recorded under the account this process runs as (the daemon reads it from the socket,
/// `SO_PEERCRED`), as `staff:<account>`, and revokes the consent's tokens in the same transaction.
struct Consents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consents",
        abstract: "The consents (grants) clients asked for: list, show, revoke.",
        subcommands: [List.self, Show.self, Revoke.self]
    )

    static func call(_ options: GlobalOptions, _ request: AdminRequest) throws -> AdminResponse {
        try AdminClient(path: try options.load().adminSocket).call(request)
    }

    static func consents(_ response: AdminResponse) throws -> [JSON] {
        guard case .consents(let consents) = response else { throw Failure(message: "the daemon's answer was not understood") }
        return consents
    }

    static func time(_ value: JSON?) -> String {
        guard case .int(let seconds)? = value else { return "-" }
        return Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }

    static func text(_ value: JSON?) -> String { value?.stringValue ?? "-" }

    /// The plain-words summary of the details (never raw JSON): what the TPP sent is shown through `TerminalText`.
    static func summary(_ consent: JSON) -> [String] {
        ConsentLines.lines(consent.objectValue?["authorization_details"] ?? .array([]), scope: text(consent.objectValue?["scope"]))
            .map(TerminalText.safe)
    }

    /// A consent for a person, every value escaped for the terminal.
    static func describe(_ consent: JSON) -> String {
        let object = consent.objectValue ?? [:]
        let approvals = (object["approvals"]?.arrayValue ?? []).map { approval -> String in
            let entry = approval.objectValue ?? [:]
            return "\(text(entry["by"])) at \(time(entry["at"]))"
        }
        let safe = TerminalText.safe
        var lines = [
            "Consent \(safe(text(object["consent_id"])))",
            "  Client:     \(safe(text(object["client_id"])))",
            "  Customer:   \(safe(text(object["user"])))",
            "  Type:       \(safe(text(object["type"])))",
            "  Status:     \(safe(text(object["status"])))",
            "  Scope:      \(safe(text(object["scope"])))",
            "  Created:    \(time(object["created_at"]))",
            "  Authorised: \(time(object["authorised_at"]))",
            "  Expires:    \(time(object["expires_at"]))",
            "  Decided by: \(safe(text(object["decided_by"])))  acr \(safe(text(object["acr"])))",
            "  Approvals:  \(approvals.count) of \(object["approvals_required"]?.int64Value ?? 1)"
                + (approvals.isEmpty ? "" : ": " + safe(approvals.joined(separator: ", "))),
            "  Details:",
        ]
        lines += summary(consent).map { "    " + $0 }
        lines.append("  Details SHA-256: \(safe(text(object["details_sha256"])))")
        return lines.joined(separator: "\n")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List consents, newest first, with their status as of now.")
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "Only this client's consents.") var client: String?
        @Option(name: .long, help: "Only this customer's consents.") var user: String?
        @Option(
            name: .long,
            help: "Only consents in this status as of now: awaiting_authorisation, authorised, rejected, consumed, revoked or expired.")
        var status: String?
        @Option(name: .long, help: "At most this many (1 to 1000).") var limit = 200
        @Flag(name: .long, help: "Print a JSON array.") var json = false

        func run() async throws {
            try await reporting {
                if let status, Consent.Status(rawValue: status) == nil {
                    throw Failure(
                        message: "--status \(TerminalText.safe(status)): one of \(Consent.Status.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                guard (1...ConsentAdministration.maximumListing).contains(limit) else { throw Failure(message: "--limit: from 1 to 1000") }
                let consents = try Consents.consents(
                    try Consents.call(options, .consentsList(clientID: client, user: user, status: status, limit: limit)))
                if json {
                    printJSON(.array(consents))
                    return
                }
                if consents.isEmpty {
                    print("no consents")
                    return
                }
                let width = max(24, consents.map { Consents.text($0.objectValue?["consent_id"]).count }.max() ?? 0) + 2
                print(TerminalText.row([("CONSENT", width), ("CLIENT", 34), ("USER", 14), ("STATUS", 24), ("CREATED", 22)], last: "DETAILS"))
                for consent in consents {
                    let object = consent.objectValue ?? [:]
                    let summary = Consents.summary(consent)
                    // TerminalText.row escapes every cell; the summary lines are escaped already and go last, one per line.
                    print(
                        TerminalText.row(
                            [
                                (Consents.text(object["consent_id"]), width), (Consents.text(object["client_id"]), 34), (Consents.text(object["user"]), 14),
                                (Consents.text(object["status"]), 24), (Consents.time(object["created_at"]), 22),
                            ], last: "") + (summary.first ?? "-"))
                    for line in summary.dropFirst() { print(String(repeating: " ", count: width + 34 + 14 + 24 + 22) + line) }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one consent: its details in plain words, approvals, times.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The consent id (the grant_id).") var id: String
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                guard let consent = try Consents.consents(try Consents.call(options, .consentShow(id: id))).first else {
                    throw Failure(message: "no consent \(TerminalText.safe(id))")
                }
                print(json ? TerminalJSON.text(consent) : Consents.describe(consent))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a consent and every access and refresh token issued under it, recorded under your account.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The consent id (the grant_id).") var id: String

        func run() async throws {
            try await reporting {
                guard case .consentRevoked(let consent, let by) = try Consents.call(options, .consentRevoke(id: id)) else {
                    throw Failure(message: "the daemon's answer was not understood")
                }
                print("revoked \(TerminalText.safe(Consents.text(consent.objectValue?["consent_id"]))) by \(TerminalText.safe(by)); its tokens are revoked")
            }
        }
    }
}

/// The plain-words lines of a consent for the staff terminal: the details as `ConsentDisplay` words them (the same
/// sentences the customer and `fapictl ciba` see), or, for a consent of scopes only, its scopes. Not escaped.
enum ConsentLines {
    static func lines(_ details: JSON, scope: String) -> [String] {
        let lines = ConsentDisplay.lines(details)
        return lines.isEmpty ? ["Scopes: \(scope)"] : lines
    }
}
