import ArgumentParser
import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit

extension GlobalOptions {
    /// The core's administration service over the configured database, acting for the account running fapictl.
    func administration() async throws -> AdministrationService {
        let (configuration, runtime) = try await runtime()
        return AdministrationService(
            clients: runtime.clients, resourceServers: runtime.clients, clock: SystemClock(), defaultProfile: configuration.fapiProfile,
            signingKeys: runtime.signingKeys.store, authorizationDetailsTypes: configuration.authorizationDetails.supportedTypes)
    }
}

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register and inspect clients (TPPs).",
        subcommands: [Add.self, Update.self, List.self, Show.self, Remove.self]
    )

    /// The metadata JSON object from `file`, or from stdin.
    static func readMetadata(file: String?) throws -> [String: JSON] {
        let data: Data
        if let file {
            guard let contents = FileManager.default.contents(atPath: file) else { throw Failure(message: "cannot read \(file)") }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        do { return try JSON.parseObject([UInt8](data)) } catch { throw Failure(message: "client metadata must be a JSON object") }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client from RFC 7591 metadata (JSON on stdin, or --file); prints the registered client."
        )
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "Read the metadata JSON from this file instead of stdin.") var file: String?

        func run() async throws {
            try await reporting {
                let metadata = try Clients.readMetadata(file: file)
                let client: Client
                do {
                    client = try await options.administration().addClient(metadata: metadata, by: OperatingSystemUser.name)
                } catch let error as AdministrationError {
                    throw Failure(message: error.description)
                }
                printJSON(client.registeredJSON)
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a client's whole metadata (JSON on stdin, or --file), as RFC 7592 PUT does; keeps its client_id. Prints the client."
        )
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The client_id.") var id: String
        @Option(name: .long, help: "Read the metadata JSON from this file instead of stdin.") var file: String?

        func run() async throws {
            try await reporting {
                let metadata = try Clients.readMetadata(file: file)
                let client: Client?
                do {
                    client = try await options.administration().updateClient(id: id, metadata: metadata, by: OperatingSystemUser.name)
                } catch let error as AdministrationError {
                    throw Failure(message: error.description)
                }
                guard let client else { throw Failure(message: "no client \(id)") }
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
                let clients = try await options.administration().clients()
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
                guard let client = try await options.administration().client(id: id) else { throw Failure(message: "no client \(id)") }
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
                guard try await options.administration().removeClient(id: id, by: OperatingSystemUser.name) else { throw Failure(message: "no client \(id)") }
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

    /// A resource server as `add` and `list --json` print it (RFC 9701 §6 names the algorithm's member).
    static func json(_ server: ResourceServer) -> JSON {
        [
            "id": .string(server.id), "name": .string(server.name), "subject_dn": .string(server.subjectDN),
            "introspection_signed_response_alg": .string(server.introspectionSignedResponseAlg.rawValue),
        ]
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a resource server by its certificate's subject DN.")
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "A unique name.") var name: String
        @Option(name: .long, help: "Subject DN of its client certificate, RFC 4514 (e.g. CN=api,O=Bank,C=GB).") var subjectDn: String
        @Option(
            name: .long,
            help: "RFC 9701: the algorithm of its JWT introspection responses, PS256 (default), ES256 or EdDSA; the server needs an active key of it.")
        var introspectionSignedResponseAlg: String?

        func run() async throws {
            try await reporting {
                let server: ResourceServer
                do {
                    server = try await options.administration().addResourceServer(
                        name: name, subjectDN: subjectDn, introspectionSignedResponseAlg: introspectionSignedResponseAlg, by: OperatingSystemUser.name)
                } catch AdministrationError.invalidSubjectDN(let error) {
                    throw Failure(message: "--subject-dn: \(error)")
                } catch AdministrationError.nameTaken(let name) {
                    throw Failure(message: "--name: a resource server named \(name) exists")
                } catch AdministrationError.introspectionAlgorithm(let name, let reason) {
                    throw Failure(message: "--introspection-signed-response-alg: \(name): \(reason)")
                } catch let error as AdministrationError {
                    throw Failure(message: error.description)
                }
                printJSON(ResourceServers.json(server))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List resource servers.")
        @OptionGroup var options: GlobalOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let servers = try await options.administration().resourceServers()
                if json {
                    printJSON(.array(servers.map(ResourceServers.json)))
                } else {
                    for server in servers {
                        print(TerminalText.row([(server.id, 0), (server.name, 0), (server.introspectionSignedResponseAlg.rawValue, 0)], last: server.subjectDN))
                    }
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
                guard try await options.administration().removeResourceServer(id: id, by: OperatingSystemUser.name) else { throw Failure(message: "no resource server \(id)") }
                print("removed \(id)")
            }
        }
    }
}
