import AuthorizationServer
import ArgumentParser
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the server's signing keys.",
        subcommands: [List.self, Generate.self, Rotate.self, Import.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List signing keys, where they live, their state and schedule.")
        @OptionGroup var options: GlobalOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let (_, runtime) = try await options.runtime()
                let now = Date()
                let records = try await runtime.signingKeys.store.signingKeys()
                if json {
                    printJSON(.array(records.map { record in
                        let state = record.state(at: now)
                        var object: [String: JSON] = [
                            "kid": .string(record.kid), "alg": .string(record.algorithm.rawValue), "key_file": .string(record.keyFile),
                            "state": .string(state.rawValue), "created_at": .int(Int64(record.createdAt.timeIntervalSince1970)),
                            "location": .string(record.location.rawValue),
                        ]
                        if let until = record.publishUntil { object["publish_until"] = .int(Int64(until.timeIntervalSince1970)) }
                        if state == .next { object["activates_at"] = .int(Int64(record.activeFrom.timeIntervalSince1970)) }
                        return .object(object)
                    }))
                } else {
                    let width = max(45, (records.map(\.kid.count).max() ?? 0) + 2)
                    let columns: [(String, width: Int)] = [
                        ("KID", width), ("ALG", 7), ("LOCATION", 10), ("STATE", 10), ("CREATED", 22), ("ACTIVATES", 22),
                    ]
                    print(TerminalText.row(columns, last: "PUBLISHED UNTIL"))
                    for record in records {
                        let state = record.state(at: now)
                        let activates = state == .next ? record.activeFrom.formatted(.iso8601) : "-"
                        let until = record.publishUntil.map { $0.formatted(.iso8601) } ?? "-"
                        let cells = [
                            record.kid, record.algorithm.rawValue, record.location.rawValue, state.rawValue,
                            record.createdAt.formatted(.iso8601), activates,
                        ]
                        print(TerminalText.row(zip(cells, columns).map { ($0, width: $1.width) }, last: until))
                    }
                }
            }
        }
    }

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an active signing key for each algorithm that has none (PS256 and ES256 by default)."
        )
        @OptionGroup var options: GlobalOptions
        @OptionGroup var keyOptions: KeyOptions
        @Option(name: .long, help: "Make the key pairs inside the PKCS#11 token this URI names (pkcs11:token=LABEL).") var pkcs11: String?

        func run() async throws {
            try await reporting {
                let (algorithms, manager) = try await keyOptions.manager(options)
                let added =
                    if let pkcs11 {
                        try await manager.generateTokenKeys(algorithms, in: try parsePKCS11URI(pkcs11), now: Date())
                    } else {
                        try await manager.ensureActiveKeys(for: algorithms, generate: true, now: Date())
                    }
                if added.isEmpty { print("every requested algorithm already has an active key") }
                for record in added { print("\(record.algorithm.rawValue) \(record.kid) \(record.keyFile)") }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a key already in a PKCS#11 token: active when its algorithm has no active key, otherwise staged as next.",
            discussion: "The algorithm comes from the key (RSA: PS256, P-256: ES256). A staged key is published in /jwks for "
                + "key_publish_ahead_seconds before it signs; --now makes it sign at once."
        )
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "The key's RFC 7512 URI (pkcs11:token=LABEL;object=LABEL or id=%NN…), without PIN or module.") var pkcs11: String
        @Flag(name: .long, help: "Make the key active at once (an emergency), not after key_publish_ahead_seconds.") var now = false

        func run() async throws {
            try await reporting {
                let uri = try parsePKCS11URI(pkcs11)
                let (configuration, runtime) = try await options.runtime()
                let manager = try SigningKeyManager(configuration: configuration, store: runtime.signingKeys.store)
                let at = Date()
                let record = try await manager.importTokenKey(uri, now: at, immediately: now)
                print("\(record.algorithm.rawValue) \(record.kid) \(record.keyFile) \(record.state(at: at).rawValue) from \(record.activeFrom.formatted(.iso8601))")
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a new key as next: it signs after key_publish_ahead_seconds; the old one stays in /jwks until its tokens expire.",
            discussion: "A key whose algorithm's active key lives in a PKCS#11 token is made in the same token, unless --file."
        )
        @OptionGroup var options: GlobalOptions
        @OptionGroup var keyOptions: KeyOptions
        @Flag(name: .long, help: "Sign with the new key at once (an emergency: verifiers that cached /jwks may refuse tokens until they refetch).")
        var now = false
        @Flag(name: .long, help: "Make the new key in a file (sealed with a key encryption key) even when the active key is in a token.")
        var file = false

        func run() async throws {
            try await reporting {
                let (algorithms, manager) = try await keyOptions.manager(options)
                let time = Date()
                for algorithm in algorithms {
                    let record = try await manager.rotate(algorithm, now: time, immediately: now, inToken: !file)
                    // The first three fields stay what scripts read (algorithm, kid, key file); then the state and when it signs.
                    let schedule = "\(record.state(at: time).rawValue), active from \(record.activeFrom.formatted(.iso8601))"
                    print("\(record.algorithm.rawValue) \(record.kid) \(record.keyFile) \(schedule)")
                }
            }
        }
    }

}

/// A `pkcs11:` URI from the command line; refused with the parser's reason (a PIN or module in it, …).
func parsePKCS11URI(_ text: String) throws -> PKCS11URI {
    do { return try PKCS11URI(parsing: text) } catch { throw Failure(message: "--pkcs11: \(error)") }
}

/// Options of the commands that create keys.
struct KeyOptions: ParsableArguments {
    @Option(name: .long, help: "Algorithm: PS256, ES256 or EdDSA; repeatable.") var alg: [String] = []
    @Option(name: .long, help: "RSA modulus size for PS256 keys.") var rsaBits = 2048

    /// The requested algorithms and a key manager over the configured database and keys directory.
    func manager(_ options: GlobalOptions) async throws -> ([JWSAlgorithm], SigningKeyManager) {
        let algorithms = try parseAlgorithms(alg)
        guard (2048...8192).contains(rsaBits), rsaBits % 8 == 0 else {
            throw Failure(message: "--rsa-bits must be a multiple of 8 from 2048 to 8192")
        }
        let (configuration, runtime) = try await options.runtime()
        let manager = try SigningKeyManager(configuration: configuration, store: runtime.signingKeys.store, rsaBits: rsaBits)
        return (algorithms, manager)
    }
}

func parseAlgorithms(_ names: [String]) throws -> [JWSAlgorithm] {
    if names.isEmpty { return SigningKeyManager.requiredAlgorithms }
    return try names.map { name in
        guard let algorithm = JWSAlgorithm(rawValue: name), JWSAlgorithm.signing.contains(algorithm) else {
            throw Failure(message: "--alg \(name): must be PS256, ES256 or EdDSA")
        }
        return algorithm
    }
}
