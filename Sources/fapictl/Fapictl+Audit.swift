import ArgumentParser
import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The tamper-evident audit log: verify the chain, export it, sign a checkpoint.",
        subcommands: [Verify.self, Export.self, Checkpoint.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the hash chain and every checkpoint. Exit 0 when intact, 1 naming the first bad row.")
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "A checkpoint JWS exported earlier (file path); may be repeated.") var checkpoint: [String] = []

        func run() async throws {
            try await reporting {
                let (_, runtime) = try await options.runtime()
                let log = runtime.storage.audit
                // Instances may append while this runs: the stored checkpoints, then the head, are read first,
                // and the walk stops at the head. Rows up to it committed with it.
                let stored = try await log.checkpoints()
                let head = try await log.head()
                let (verifier, problem) = try await log.walkChain(through: head?.seq ?? .max)
                if let problem { try broken(problem) }
                if let problem = verifier.finish(head: head) { try broken(problem) }

                let keys = try await publicKeys(runtime)
                var checkpoints = stored.map { ("stored checkpoint \($0.seq)", $0.jws) }
                for path in checkpoint {
                    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure(message: "--checkpoint: cannot read \(path)") }
                    checkpoints.append(("checkpoint \(path)", text.trimmingCharacters(in: .whitespacesAndNewlines)))
                }
                for (name, jws) in checkpoints {
                    let signed: (seq: Int64, hash: String)
                    do { signed = try AuditCheckpoint.verify(jws, keys: keys) } catch {
                        try broken(AuditChainProblem(seq: 0, reason: "\(name): signature not valid (\(error))"))
                    }
                    guard signed.seq <= verifier.lastSeq else {
                        try broken(
                            AuditChainProblem(
                                seq: verifier.lastSeq + 1, reason: "row \(verifier.lastSeq + 1) is missing (\(name) covers \(signed.seq) rows)"))
                    }
                    guard try await log.hash(at: signed.seq) == signed.hash else {
                        try broken(
                            AuditChainProblem(
                                seq: signed.seq, reason: "row \(signed.seq) differs from \(name): the rows up to it were rewritten"))
                    }
                }
                print("audit chain intact: \(verifier.lastSeq) rows, \(checkpoints.count) checkpoints verified")
            }
        }

        func broken(_ problem: AuditChainProblem) throws -> Never {
            FileHandle.standardError.write(Data("fapictl: audit chain broken at row \(problem.seq): \(problem.reason)\n".utf8))
            throw ExitCode(1)
        }

        /// The public parts of every signing key on record, retired ones included: old checkpoints stay verifiable.
        func publicKeys(_ runtime: Runtime) async throws -> JWKSet {
            var keys: [JWK] = []
            for record in try await runtime.signingKeys.store.signingKeys() {
                // The public JWK kept in the record: no private key is loaded, nor a token logged in to.
                if let stored = record.publicJWK, let jwk = try? JWK(json: Array(stored.utf8)) {
                    keys.append(jwk)
                    continue
                }
                guard let key = try? runtime.signingKeys.load(record),
                    let jwk = try? SigningKey(key: key, algorithm: record.algorithm, kid: record.kid).publicJWK()
                else { continue }
                keys.append(jwk)
            }
            return JWKSet(keys: keys)
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write audit rows as JSON lines (for a SIEM), oldest first; or, with --consent, the evidence of one consent as JSON.")
        @OptionGroup var options: GlobalOptions
        @Option(name: .long, help: "Only rows at or after this time: RFC 3339 (2026-11-26T09:00:00Z) or Unix seconds.") var since: String?
        @Option(
            name: .long,
            help: "Print the evidence of this consent (grant_id): the consent with its hashes and certificate, its audit rows, and whether the chain verifies through them.")
        var consent: String?

        func run() async throws {
            try await reporting {
                if let consent {
                    guard since == nil else { throw Failure(message: "--since and --consent cannot be used together") }
                    let (_, runtime) = try await options.runtime()
                    let administration = ConsentAdministration(consents: runtime.storage.consents, clock: SystemClock())
                    guard let evidence = try await administration.evidence(id: consent, audit: runtime.storage.audit) else {
                        throw Failure(message: "no consent \(TerminalText.safe(consent))")
                    }
                    printJSON(evidence)
                    return
                }
                let from: Date
                if let since {
                    guard let parsed = Self.parse(since) else { throw Failure(message: "--since: not an RFC 3339 time or Unix seconds: \(since)") }
                    from = parsed
                } else {
                    from = Date(timeIntervalSince1970: 0)
                }
                let (_, runtime) = try await options.runtime()
                let log = runtime.storage.audit
                var after: Int64 = 0
                while true {
                    let page = try await log.rows(since: from, after: after)
                    var out = ""
                    for row in page {
                        var object: [String: JSON] = ["seq": .int(row.seq), "prev_hash": .string(row.previousHash), "hash": .string(row.hash)]
                        for (key, value) in row.values { object[key] = .string(value) }
                        out += TerminalJSON.text(.object(object)) + "\n"
                    }
                    FileHandle.standardOutput.write(Data(out.utf8))
                    guard let last = page.last, page.count == 10_000 else { break }
                    after = last.seq
                }
            }
        }

        static func parse(_ text: String) -> Date? {
            if let seconds = Int64(text) { return Date(timeIntervalSince1970: TimeInterval(seconds)) }
            let withFraction = ISO8601DateFormatter()
            withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return ISO8601DateFormatter().date(from: text) ?? withFraction.date(from: text)
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign the current chain head now and print the checkpoint JWS, to keep off this machine.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await reporting {
                let (configuration, runtime) = try await options.runtime()
                let ring = KeyRing()
                let now = Date()
                // Only the PS256 key signs a checkpoint: another key that cannot be loaded (a staged ES256 key in a token
                // out of reach) does not stop it.
                let loadFailure: (any Error)?
                do {
                    try await runtime.signingKeys.reload(ring, now: now)
                    loadFailure = nil
                } catch {
                    loadFailure = error
                }
                let log = runtime.storage.audit
                guard let head = try await log.head(), head.seq > 0 else { throw Failure(message: "the audit log is empty") }
                guard let signer = ring.snapshot.signer(for: .PS256, at: now) else {
                    throw Failure(message: "no active PS256 signing key" + (loadFailure.map { ": \($0)" } ?? ""))
                }
                let jws = try await AuditCheckpoint.sign(seq: head.seq, hash: head.hash, issuer: configuration.issuer, at: now, with: signer)
                try await log.insertCheckpoint(seq: head.seq, hash: head.hash, jws: jws, at: Date())
                print(jws)
            }
        }
    }
}
