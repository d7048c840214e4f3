public import Foundation
public import JOSE
public import OpenSSLKit
import Synchronization

/// The server's signing keys as the request path sees them: one active signer per algorithm and
/// the published JWKS, held as an immutable snapshot that a reload swaps atomically.
///
/// Private keys are parsed once per kid and kept; a reload only parses kids it has not seen.
public final class KeyRing: Sendable {
    public struct Snapshot: Sendable {
        public let signers: [JWSAlgorithm: SigningKey]
        public let published: [JWK]
        /// The serialized `/jwks` document, built once per reload rather than once per request.
        public let jwksDocument: [UInt8]
        public let records: [SigningKeyRecord]

        static let empty = Snapshot(signers: [:], published: [], jwksDocument: Array(#"{"keys":[]}"#.utf8), records: [])
    }

    /// Reads and parses the private key file of a record (the runtime checks its permissions).
    public typealias KeyLoader = @Sendable (SigningKeyRecord) throws -> AsymmetricKey

    private let state = Mutex<(snapshot: Snapshot, parsed: [String: SigningKey])>((.empty, [:]))

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0.snapshot } }

    public func signer(for algorithm: JWSAlgorithm) -> SigningKey? {
        state.withLock { $0.snapshot.signers[algorithm] }
    }

    /// Rebuilds the snapshot from `records` at `now`. Throws, and keeps the previous snapshot,
    /// when a key file cannot be loaded or does not fit its record.
    public func reload(records: [SigningKeyRecord], now: Date, load: KeyLoader) throws {
        let known = state.withLock { $0.parsed }
        var parsed: [String: SigningKey] = [:]
        var signers: [JWSAlgorithm: SigningKey] = [:]
        var published: [JWK] = []
        for record in records {
            let recordState = record.state(at: now)
            guard recordState != .expired else { continue }
            let signer: SigningKey
            if let cached = known[record.kid], cached.algorithm == record.algorithm {
                signer = cached
            } else {
                signer = try SigningKey(key: try load(record), algorithm: record.algorithm, kid: record.kid)
            }
            parsed[record.kid] = signer
            published.append(try signer.publicJWK())
            // The newest active record of an algorithm signs; records arrive oldest first.
            if recordState == .active { signers[record.algorithm] = signer }
        }
        let document = JWKSet(keys: published).publicJSON.bytes
        let snapshot = Snapshot(signers: signers, published: published, jwksDocument: document, records: records)
        state.withLock { $0 = (snapshot, parsed) }
    }
}
