import ArgumentParser
import AuthorizationServer
import FapidRuntime
import Logging
import Foundation
import JOSE

@main
struct Fapictl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fapictl",
        abstract: "Administer fapid: migrations, signing keys, clients and resource servers.",
        subcommands: [Migrate.self, Keys.self, Clients.self, ResourceServers.self, Users.self, CIBA.self, Consents.self, Cert.self, Audit.self]
    )
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "JSON configuration file (as for fapid); FAPID_* environment variables override it.")
    var config: String?

    func load() throws -> FapidConfiguration {
        do {
            return try FapidConfiguration.load(file: config)
        } catch {
            throw Failure(message: "\(error)")
        }
    }

    func runtime() async throws -> (FapidConfiguration, Runtime) {
        let configuration = try load()
        do {
            return (configuration, try await Runtime.open(configuration, logger: Runtime.logger("fapictl", level: .warning)))
        } catch {
            throw Failure(message: "\(error)")
        }
    }
}

/// A one-line reason on stderr and exit status 1.
struct Failure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning any failure into one line on stderr and a non-zero exit.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("fapictl: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Every JSON fapictl prints goes through here (or `TerminalJSON.text` directly): TPP text in it never reaches the
/// terminal as raw C1 or bidirectional control characters.
func printJSON(_ value: JSON) {
    print(TerminalJSON.text(value))
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations.")
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await reporting {
            let (_, runtime) = try await options.runtime()
            print("database \(runtime.storage.location) is up to date")
        }
    }
}

