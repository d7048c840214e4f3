import ArgumentParser
import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import SQLiteStorage

/// The bank staff side of CIBA: see pending backchannel requests and approve or deny them.
struct CIBA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ciba",
        abstract: "Decide CIBA requests: interactive prompt by default; list, approve and deny for scripts.",
        subcommands: [Prompt.self, List.self, Approve.self, Deny.self],
        defaultSubcommand: Prompt.self
    )

    /// Who decides: the operating-system user running fapictl.
    static var staffUser: String {
        ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? String(cString: getlogin() ?? strdup("unknown"))
    }

    static func store(_ options: GlobalOptions) throws -> (SQLiteCIBAStore, Runtime) {
        let (_, runtime) = try options.runtime()
        return (SQLiteCIBAStore(database: runtime.database), runtime)
    }

    static func describe(_ request: CIBARequest, clientName: String, now: Date) -> String {
        let left = max(0, Int(request.expiresAt.timeIntervalSince(now)))
        let permissions = request.scope.split(separator: " ").compactMap { scope -> String? in
            switch scope {
            case "openid": nil
            case "accounts": "see account details, balances and transactions"
            case "payments": "make a payment"
            case "fundsconfirmations": "check available funds"
            default: String(scope)
            }
        }
        return """
            Request \(request.id)
              TPP:      \(clientName)
              Customer: \(request.username)
              Wants to: \(permissions.isEmpty ? "confirm the customer's identity" : permissions.joined(separator: "; "))
              Message:  \(request.bindingMessage ?? "-")
              Expires:  in \(left) s
            """
    }

    struct Prompt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prompt", abstract: "Show pending requests as they arrive and ask for each.")
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "Stop after this many seconds (for tests); by default run until Ctrl-D or Ctrl-C.") var seconds: Int?

        func run() async throws {
            try await reporting {
                let (store, runtime) = try CIBA.store(options)
                var seen = Set<String>()
                let deadline = seconds.map { Date().addingTimeInterval(TimeInterval($0)) }
                print("Waiting for backchannel requests (Ctrl-D to stop)…")
                while deadline.map({ Date() < $0 }) ?? true {
                    for request in try await store.pendingCIBARequests(now: Date()) where !seen.contains(request.id) {
                        seen.insert(request.id)
                        let name = (try? await runtime.clients.client(id: request.clientID))?.flatMap { $0.name } ?? request.clientID
                        print("\n" + CIBA.describe(request, clientName: name, now: Date()))
                        print("Approve? [y/N] ", terminator: "")
                        guard let answer = readLine() else { return }
                        var approve = answer.lowercased().hasPrefix("y")
                        if approve && request.scope.split(separator: " ").contains("payments") {
                            print("This is a payment. Approve it? Type yes to confirm: ", terminator: "")
                            approve = readLine()?.lowercased() == "yes"
                        }
                        let recorded = try await store.decideCIBARequest(id: request.id, approve: approve, by: CIBA.staffUser, now: Date())
                        print(recorded ? (approve ? "Approved." : "Denied.") : "Too late: the request expired or was decided elsewhere.")
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
                let (store, runtime) = try CIBA.store(options)
                let now = Date()
                var rows: [JSON] = []
                for request in try await store.pendingCIBARequests(now: now) {
                    let name = (try? await runtime.clients.client(id: request.clientID))?.flatMap { $0.name }
                    if json {
                        rows.append([
                            "id": .string(request.id), "client_id": .string(request.clientID), "client_name": name.map { .string($0) } ?? .null,
                            "user": .string(request.username), "scope": .string(request.scope),
                            "binding_message": request.bindingMessage.map { .string($0) } ?? .null,
                            "expires_at": .int(Int64(request.expiresAt.timeIntervalSince1970)),
                        ])
                    } else {
                        print(CIBA.describe(request, clientName: name ?? request.clientID, now: now) + "\n")
                    }
                }
                if json { printJSON(.array(rows)) }
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a pending request by its id.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The request id from `fapictl ciba list`.") var id: String

        func run() async throws {
            try await reporting {
                let (store, _) = try CIBA.store(options)
                guard try await store.decideCIBARequest(id: id, approve: true, by: CIBA.staffUser, now: Date()) else {
                    throw Failure(message: "no pending request \(id)")
                }
                print("approved \(id)")
            }
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny a pending request by its id.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The request id from `fapictl ciba list`.") var id: String

        func run() async throws {
            try await reporting {
                let (store, _) = try CIBA.store(options)
                guard try await store.decideCIBARequest(id: id, approve: false, by: CIBA.staffUser, now: Date()) else {
                    throw Failure(message: "no pending request \(id)")
                }
                print("denied \(id)")
            }
        }
    }
}
