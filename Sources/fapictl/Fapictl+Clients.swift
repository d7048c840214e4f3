import ArgumentParser
import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit
import SQLiteStorage

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register and inspect clients (TPPs).",
        subcommands: [Add.self, List.self, Show.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client from RFC 7591 metadata (JSON on stdin, or --file); prints the registered client."
        )
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "Read the metadata JSON from this file instead of stdin.") var file: String?

        func run() async throws {
            try await reporting {
                let data: Data
                if let file {
                    guard let contents = FileManager.default.contents(atPath: file) else { throw Failure(message: "cannot read \(file)") }
                    data = contents
                } else {
                    data = FileHandle.standardInput.readDataToEndOfFile()
                }
                let metadata: [String: JSON]
                do { metadata = try JSON.parseObject([UInt8](data)) } catch { throw Failure(message: "client metadata must be a JSON object") }
                for field in ["client_id", "client_secret"] where metadata[field] != nil {
                    throw Failure(message: "\(field): assigned by the server, must not be given")
                }
                let (_, runtime) = try await options.runtime()
                let client: Client
                do {
                    // 128 random bits: client ids are not secrets, but need not be guessable either.
                    client = try Client(clientID: Crypto.hex(Crypto.randomBytes(16)), metadata: metadata, createdAt: Date())
                } catch {
                    throw Failure(message: "invalid client metadata: \(error)")
                }
                try await runtime.clients.insertClient(
                    client,
                    audit: AuditEvent(.clientRegistered, at: client.createdAt, client: client, user: OperatingSystemUser.name, reason: "fapictl clients add"))
                printJSON(client.registeredJSON)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered clients.")
        @OptionGroup var options: GlobalOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let (_, runtime) = try await options.runtime()
                let clients = try await runtime.clients.clients()
                if json {
                    printJSON(.array(clients.map(\.registeredJSON)))
                } else {
                    let width = max(26, (clients.map(\.clientID.count).max() ?? 0) + 2)
                    print(TerminalText.row([("CLIENT ID", width), ("AUTH METHOD", 30)], last: "NAME"))
                    for client in clients {
                        print(TerminalText.row([(client.clientID, width), (client.authMethod.rawValue, 30)], last: client.name ?? "-"))
                    }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one client's registration as JSON.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The client_id.") var id: String

        func run() async throws {
            try await reporting {
                let (_, runtime) = try await options.runtime()
                guard let client = try await runtime.clients.client(id: id) else { throw Failure(message: "no client \(id)") }
                printJSON(client.registeredJSON)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a client and revoke its tokens.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The client_id.") var id: String

        func run() async throws {
            try await reporting {
                let (_, runtime) = try await options.runtime()
                let now = Date()
                let event = AuditEvent(.clientDeleted, at: now, clientID: id, user: OperatingSystemUser.name, reason: "fapictl clients remove")
                guard try await runtime.clients.removeClient(id: id, at: now, audit: event) else { throw Failure(message: "no client \(id)") }
                print("removed \(id)")
            }
        }
    }
}

struct ResourceServers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resource-servers",
        abstract: "Resource servers allowed to introspect tokens, authenticated by their mTLS certificate.",
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a resource server by its certificate's subject DN.")
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "A unique name.") var name: String
        @Option(name: .long, help: "Subject DN of its client certificate, RFC 4514 (e.g. CN=api,O=Bank,C=GB).") var subjectDn: String

        func run() async throws {
            try await reporting {
                do { _ = try DistinguishedName(rfc4514: subjectDn) } catch { throw Failure(message: "--subject-dn: \(error)") }
                let (_, runtime) = try await options.runtime()
                let server = ResourceServer(id: Crypto.hex(Crypto.randomBytes(12)), name: name, subjectDN: subjectDn, createdAt: Date())
                do {
                    try await runtime.clients.insertResourceServer(
                        server,
                        audit: AuditEvent(
                            .resourceServerAdded, at: server.createdAt, clientID: server.id, user: OperatingSystemUser.name,
                            reason: "resource server \(name), subject \(subjectDn)"))
                } catch let error as StorageError where error.code == .conflict {
                    throw Failure(message: "--name: a resource server named \(name) exists")
                }
                printJSON(["id": .string(server.id), "name": .string(name), "subject_dn": .string(subjectDn)])
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List resource servers.")
        @OptionGroup var options: GlobalOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let (_, runtime) = try await options.runtime()
                let servers = try await runtime.clients.resourceServers()
                if json {
                    printJSON(.array(servers.map { ["id": .string($0.id), "name": .string($0.name), "subject_dn": .string($0.subjectDN)] }))
                } else {
                    for server in servers { print(TerminalText.row([(server.id, 0), (server.name, 0)], last: server.subjectDN)) }
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a resource server by id or name.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Its id or name.") var id: String

        func run() async throws {
            try await reporting {
                let (_, runtime) = try await options.runtime()
                let event = AuditEvent(
                    .resourceServerRemoved, at: Date(), clientID: id, user: OperatingSystemUser.name, reason: "fapictl resource-servers remove")
                guard try await runtime.clients.removeResourceServer(id: id, audit: event) else { throw Failure(message: "no resource server \(id)") }
                print("removed \(id)")
            }
        }
    }
}
