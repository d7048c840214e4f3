import ArgumentParser
import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "PSU accounts.", subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user; the password is read as one line from stdin.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Username: letters, digits and ._@- (at most 64).") var username: String

        func run() async throws {
            try await reporting {
                guard User.isValidName(username) else { throw Failure(message: "username: letters, digits and ._@- only, at most 64") }
                guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                    throw Failure(message: "the password is read as one line from stdin, and must not be empty")
                }
                guard line.count >= 8 else { throw Failure(message: "the password must have at least 8 characters") }
                let (_, runtime) = try await options.runtime()
                let store = runtime.storage.users
                do {
                    try await store.insertUser(User(username: username, passwordHash: try PasswordHash.make(line), createdAt: Date()))
                } catch let error as StorageError where error.code == .conflict {
                    throw Failure(message: "user \(username) exists")
                }
                print("added \(username)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var options: GlobalOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let (_, runtime) = try await options.runtime()
                let users = try await runtime.storage.users.users()
                if json {
                    printJSON(.array(users.map { ["username": .string($0.username), "created_at": .int(Int64($0.createdAt.timeIntervalSince1970))] }))
                } else {
                    for user in users { print(TerminalText.safe(user.username)) }
                }
            }
        }
    }
}
