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

    /// `ciba list --json`: one object per request, absent values as null.
    static func json(_ request: AdminCIBARequest) -> JSON {
        [
            "id": .string(request.id), "client_id": .string(request.clientID), "client_name": request.clientName.map { .string($0) } ?? .null,
            "user": .string(request.user), "scope": .string(request.scope),
            "binding_message": request.bindingMessage.map { .string($0) } ?? .null, "expires_at": .int(request.expiresAt),
        ]
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
        return """
            Request \(safe(request.id))
              TPP:      \(safe(name + organisation))
              Customer: \(safe(request.user))
              Wants to: \(safe(permissions.isEmpty ? "confirm the customer's identity" : permissions.joined(separator: "; ")))
              Message:  \(safe(request.bindingMessage ?? "-"))
              Expires:  in \(left) s
            """
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

        func run() async throws {
            try await reporting {
                let staff = try CIBA.decide(try CIBA.admin(options), id: id, approve: true)
                print("approved \(TerminalText.safe(id)) by \(TerminalText.safe(staff))")
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
