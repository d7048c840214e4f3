import ArgumentParser
import FapidRuntime
import Foundation
import JOSE

/// The bank staff side of CIBA: see pending backchannel requests and approve or deny them.
struct CIBA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ciba",
        abstract: "Decide CIBA requests: interactive prompt by default; list, approve and deny for scripts.",
        subcommands: [Prompt.self, List.self, Approve.self, Deny.self],
        defaultSubcommand: Prompt.self
    )

    /// The running daemon's admin socket (live operations go through the daemon, never around it).
    static func admin(_ options: GlobalOptions) throws -> AdminClient {
        AdminClient(path: try options.load().adminSocket)
    }

    static func pending(_ admin: AdminClient) throws -> [AdminCIBARequest] {
        guard case .cibaRequests(let requests) = try admin.call(.cibaList) else { throw Failure(message: "the daemon's answer was not understood") }
        return requests
    }

    /// Records the decision; returns the account the daemon recorded it under. That is the account this
    /// process runs as, which the daemon reads from the socket itself (SO_PEERCRED): no name is sent.
    static func decide(_ admin: AdminClient, id: String, approve: Bool) throws -> String {
        guard case .cibaDecided(let staff) = try admin.call(.cibaDecide(id: id, approve: approve)) else {
            throw Failure(message: "the daemon's answer was not understood")
        }
        return staff
    }

    /// One approval of a request with a consent: the hash of the details this terminal showed and the amounts
    /// typed, checked again by the daemon. Returns the account and the approvals so far and needed.
    static func approve(_ admin: AdminClient, id: String, consent: AdminCIBAConsent, amounts: [String]) throws -> (String, Int, Int) {
        guard case .cibaApproval(let staff, let approvals, let required) = try admin.call(
            .cibaApprove(id: id, detailsHash: consent.detailsHash, amounts: amounts))
        else { throw Failure(message: "the daemon's answer was not understood") }
        return (staff, approvals, required)
    }

    /// "1 of 2 approvals; needs 1 more".
    static func count(_ approvals: Int, of required: Int) -> String {
        let left = max(0, required - approvals)
        return "\(approvals) of \(required) approval\(required == 1 ? "" : "s")" + (left == 0 ? "" : "; needs \(left) more")
    }

    /// `ciba list --json`: one object per request, absent values as null; `consent` only for a request with one.
    static func json(_ request: AdminCIBARequest) -> JSON {
        var object: [String: JSON] = [
            "id": .string(request.id), "client_id": .string(request.clientID), "client_name": request.clientName.map { .string($0) } ?? .null,
            "user": .string(request.user), "scope": .string(request.scope),
            "binding_message": request.bindingMessage.map { .string($0) } ?? .null, "expires_at": .int(request.expiresAt),
        ]
        if let consent = request.consent {
            object["consent"] = [
                "id": .string(consent.id), "lines": .array(consent.lines.map(JSON.string)), "amounts": .array(consent.amounts.map(JSON.string)),
                "details_sha256": .string(consent.detailsHash), "approved_by": .array(consent.approvedBy.map(JSON.string)),
                "approvals": .int(Int64(consent.approvedBy.count)), "approvals_required": .int(Int64(consent.approvalsRequired)),
            ]
        }
        return .object(object)
    }

    static func describe(_ request: AdminCIBARequest, now: Date) -> String {
        let left = max(0, Int(Double(request.expiresAt) - now.timeIntervalSince1970))
        let name = request.clientName ?? request.clientID
        let organisation = request.organisation.map { " (\($0))" } ?? ""
        let permissions = request.scope.split(separator: " ").compactMap { scope -> String? in
            switch scope {
            case "openid": nil
            case "accounts": "see account details, balances and transactions"
            case "payments": "make a payment"
            case "fundsconfirmations": "check available funds"
            default: String(scope)
            }
        }
        // Everything but the countdown came from the TPP or the customer: shown with control characters made visible.
        let safe = TerminalText.safe
        var text = """
            Request \(safe(request.id))
              TPP:      \(safe(name + organisation))
              Customer: \(safe(request.user))
              Wants to: \(safe(permissions.isEmpty ? "confirm the customer's identity" : permissions.joined(separator: "; ")))
              Message:  \(safe(request.bindingMessage ?? "-"))
            """
        if let consent = request.consent {
            // The same plain-words lines as the customer's consent page (ConsentDisplay.lines), each escaped.
            for (index, line) in consent.lines.enumerated() {
                text += "\n  " + (index == 0 ? "Details:  " : "          ") + safe(line)
            }
            let by = consent.approvedBy.isEmpty ? "" : " (approved by \(consent.approvedBy.map(safe).joined(separator: ", ")))"
            text += "\n  Approvals: " + count(consent.approvedBy.count, of: consent.approvalsRequired) + by
        }
        return text + "\n  Expires:  in \(left) s"
    }

    /// Asks for each payment amount to be typed exactly as shown; nil at end of input.
    static func typedAmounts(_ consent: AdminCIBAConsent) -> [String]? {
        var typed: [String] = []
        for _ in consent.amounts {
            print("Type the payment amount exactly as shown to approve it: ", terminator: "")
            guard let line = readLine() else { return nil }
            typed.append(line.trimmingCharacters(in: .whitespaces))
        }
        return typed
    }

    struct Prompt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prompt", abstract: "Show pending requests as they arrive and ask for each.")
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "Stop after this many seconds (for tests); by default run until Ctrl-D or Ctrl-C.") var seconds: Int?

        func run() async throws {
            try await reporting {
                let admin = try CIBA.admin(options)
                var seen = Set<String>()
                let deadline = seconds.map { Date().addingTimeInterval(TimeInterval($0)) }
                print("Waiting for backchannel requests (Ctrl-D to stop)…")
                while deadline.map({ Date() < $0 }) ?? true {
                    for request in try CIBA.pending(admin) {
                        let id = request.id
                        guard !seen.contains(id) else { continue }
                        seen.insert(id)
                        print("\n" + CIBA.describe(request, now: Date()))
                        print("Approve? [y/N] ", terminator: "")
                        guard let answer = readLine() else { return }
                        var approve = answer.lowercased().hasPrefix("y")
                        if let consent = request.consent {
                            guard let again = Prompt.decide(admin, request: request, consent: consent, approve: approve) else { return }
                            // Shown again at the next round when a mistyped amount recorded nothing: the list still has it.
                            if again { seen.remove(id) }
                            continue
                        }
                        if approve && request.scope.split(separator: " ").contains("payments") {
                            print("This is a payment. Approve it? Type yes to confirm: ", terminator: "")
                            approve = readLine()?.lowercased() == "yes"
                        }
                        do {
                            let staff = try CIBA.decide(admin, id: id, approve: approve)
                            print((approve ? "Approved." : "Denied.") + " Recorded as \(TerminalText.safe(staff)).")
                        } catch {
                            print("Not recorded: \(TerminalText.safe("\(error)"))")
                        }
                    }
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
        }

        /// The decision on a request with a consent: for an approval each payment amount is typed back (a mismatch
        /// approves nothing), then one approval is recorded, of as many as the consent needs. Returns whether to ask
        /// again (a mistyped amount); nil at end of input.
        static func decide(_ admin: AdminClient, request: AdminCIBARequest, consent: AdminCIBAConsent, approve: Bool) -> Bool? {
            do {
                guard approve else {
                    let staff = try CIBA.decide(admin, id: request.id, approve: false)
                    print("Denied. Recorded as \(TerminalText.safe(staff)).")
                    return false
                }
                guard let typed = CIBA.typedAmounts(consent) else { return nil }
                guard typed == consent.amounts else {
                    print("The amount typed does not match the amount shown: not approved.")
                    return true
                }
                let (staff, approvals, required) = try CIBA.approve(admin, id: request.id, consent: consent, amounts: typed)
                if approvals >= required {
                    print("Approved. Recorded as \(TerminalText.safe(staff)) (\(CIBA.count(approvals, of: required))).")
                } else {
                    print("Approval recorded as \(TerminalText.safe(staff)): \(CIBA.count(approvals, of: required)).")
                }
            } catch {
                print("Not recorded: \(TerminalText.safe("\(error)"))")
            }
            return false
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List pending requests.")
        @OptionGroup var options: GlobalOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let now = Date()
                let requests = try CIBA.pending(try CIBA.admin(options))
                if json {
                    printJSON(.array(requests.map(CIBA.json)))
                } else {
                    for request in requests { print(CIBA.describe(request, now: now) + "\n") }
                }
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a pending request by its id.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The request id from `fapictl ciba list`.") var id: String
        @Option(name: .long, help: "For a request with a payment: its amount exactly as shown (once per payment, in order).") var amount: [String] = []

        func run() async throws {
            try await reporting {
                let admin = try CIBA.admin(options)
                guard let request = try CIBA.pending(admin).first(where: { $0.id == id }), let consent = request.consent else {
                    let staff = try CIBA.decide(admin, id: id, approve: true)
                    print("approved \(TerminalText.safe(id)) by \(TerminalText.safe(staff))")
                    return
                }
                // What is approved is shown first: the same lines as the prompt.
                print(CIBA.describe(request, now: Date()))
                guard amount == consent.amounts else {
                    throw Failure(message: "the amount given (--amount) is not the amount shown: not approved")
                }
                let (staff, approvals, required) = try CIBA.approve(admin, id: id, consent: consent, amounts: amount)
                if approvals >= required {
                    print("approved \(TerminalText.safe(id)) by \(TerminalText.safe(staff)) (\(CIBA.count(approvals, of: required)))")
                } else {
                    print("approval of \(TerminalText.safe(id)) recorded by \(TerminalText.safe(staff)): \(CIBA.count(approvals, of: required))")
                }
            }
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny a pending request by its id.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The request id from `fapictl ciba list`.") var id: String

        func run() async throws {
            try await reporting {
                let staff = try CIBA.decide(try CIBA.admin(options), id: id, approve: false)
                print("denied \(TerminalText.safe(id)) by \(TerminalText.safe(staff))")
            }
        }
    }
}
