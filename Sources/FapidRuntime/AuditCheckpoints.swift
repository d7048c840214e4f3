public import AuthorizationServer
public import Foundation
public import JOSE
public import Logging
public import ServiceLifecycle

/// Signed checkpoints of the audit chain head: a JWS (PS256, by the daemon's signing key) over
/// `{"iss", "iat", "seq", "hash"}`. Exported off the machine, one proves that the first `seq` rows are
/// exactly those the daemon wrote, even against someone who rewrites the whole table and its hashes.
public enum AuditCheckpoint {
    public static let type = "fapid-audit-checkpoint+jwt"

    public static func sign(seq: Int64, hash: String, issuer: String, at now: Date, with signer: ServerSigner) async throws(JOSEError) -> String {
        try await signer.sign(
            claims: [
                "iss": .string(issuer), "iat": .int(Int64(now.timeIntervalSince1970)), "seq": .int(seq), "hash": .string(hash),
            ],
            type: type)
    }

    /// Verifies the signature against `keys` (the signing keys' public parts) and returns `(seq, hash)`.
    public static func verify(_ jws: String, keys: JWKSet) throws -> (seq: Int64, hash: String) {
        let parsed = try CompactJWS(jws)
        guard parsed.header["typ"]?.stringValue == type else { throw Failure(description: "not an audit checkpoint (typ)") }
        _ = try parsed.verify(with: keys, allowed: [.PS256, .ES256])
        let claims = try JSON.parseObject(parsed.payload)
        guard let seq = claims["seq"]?.int64Value, let hash = claims["hash"]?.stringValue else {
            throw Failure(description: "checkpoint without seq and hash")
        }
        return (seq, hash)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }
}

/// Writes a checkpoint of the chain head every `interval` when rows were appended since the last one,
/// and a last one at graceful shutdown.
public struct AuditCheckpointer: Service {
    let log: any AuditLogReader
    let keyRing: KeyRing
    let issuer: String
    let clock: any WallClock
    let interval: Duration
    let logger: Logger

    public init(log: any AuditLogReader, keyRing: KeyRing, issuer: String, clock: any WallClock, interval: Duration, logger: Logger) {
        self.log = log
        self.keyRing = keyRing
        self.issuer = issuer
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: interval) { await checkpoint() }
        await checkpoint()
    }

    /// Signs the current head if it moved since the last checkpoint; returns the JWS written, if any.
    @discardableResult
    public func checkpoint() async -> String? {
        do {
            guard let head = try await log.head(), head.seq > 0 else { return nil }
            if let last = try await log.checkpoints().last, last.seq >= head.seq { return nil }
            guard let signer = keyRing.signer(for: .PS256) else { return nil }
            let now = clock.now()
            let jws = try await AuditCheckpoint.sign(seq: head.seq, hash: head.hash, issuer: issuer, at: now, with: signer)
            try await log.insertCheckpoint(seq: head.seq, hash: head.hash, jws: jws, at: now)
            return jws
        } catch {
            logger.error("audit checkpoint failed", metadata: ["reason": "\(error)"])
            return nil
        }
    }
}
