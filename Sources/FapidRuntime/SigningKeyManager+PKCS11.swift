public import AuthorizationServer
public import Foundation
public import JOSE
public import OpenSSLKit

extension SigningKeyManager {
    /// The pool token signatures run on, sized by `pkcs11_sessions`.
    public static func signingPool(_ configuration: FapidConfiguration) -> SigningPool {
        SigningPool(threads: configuration.pkcs11Sessions, queueLimit: 64 * configuration.pkcs11Sessions)
    }

    /// The algorithm a token key signs with: RSA → PS256, P-256 → ES256.
    public static func algorithm(for key: AsymmetricKey) throws -> JWSAlgorithm {
        switch key.kind {
        case .rsa: return .PS256
        case .p256: return .ES256
        case .ed25519: throw PrivateKeyFile.Failure(description: "fapid keeps only RSA (PS256) and P-256 (ES256) keys in tokens")
        }
    }

    /// The record of the token key `uri` names, not yet stored: loaded through the engine, its algorithm taken from
    /// the key, its kid the RFC 7638 thumbprint of its public half, `keyFile` the canonical URI.
    public func tokenKeyRecord(_ uri: PKCS11URI, now: Date) throws -> (record: SigningKeyRecord, key: AsymmetricKey) {
        guard uri.object != nil || uri.id != nil else {
            throw PrivateKeyFile.Failure(description: "the URI must name a key in the token (object=LABEL or id=%NN…)")
        }
        var named = uri
        named.type = "private"
        let key = try loadTokenKey(named)
        let algorithm = try Self.algorithm(for: key)
        _ = try SigningKey(key: key, algorithm: algorithm, kid: "check")
        return (try SigningKeyRecord.make(for: key, algorithm: algorithm, keyFile: named.description, createdAt: now), key)
    }

    /// Makes a new key pair for `algorithm` inside the token `token` names and returns its record, not yet stored.
    public func newTokenKey(_ algorithm: JWSAlgorithm, in token: PKCS11URI, now: Date) throws -> SigningKeyRecord {
        try tokenKeyRecord(try makeTokenKeyPair(algorithm, in: token, now: now), now: now).record
    }

    /// Makes a key pair for `algorithm` inside the token and returns the private key's URI, without loading it.
    /// The object gets a random 16-byte CKA_ID and the label `fapid-<alg>-<seconds since 1970>`.
    func makeTokenKeyPair(_ algorithm: JWSAlgorithm, in token: PKCS11URI, now: Date) throws -> PKCS11URI {
        guard let pkcs11 else { throw PrivateKeyFile.Failure(description: "set pkcs11_module (FAPID_PKCS11_MODULE) to make keys in a token") }
        let kind: AsymmetricKey.Kind =
            switch algorithm {
            case .PS256: .rsa(bits: rsaBits)
            case .ES256: .p256
            default: throw PrivateKeyFile.Failure(description: "fapid keeps only PS256 and ES256 keys in tokens")
            }
        guard token.object == nil, token.id == nil else {
            throw PrivateKeyFile.Failure(description: "the token URI names a key; give only the token (pkcs11:token=LABEL, optionally serial=…)")
        }
        let label = "fapid-\(algorithm.rawValue.lowercased())-\(Int64(now.timeIntervalSince1970))"
        return try PKCS11Token.generateKeyPair(
            module: pkcs11.module, token: token.tokenPart, pin: try pkcs11.pin(), kind: kind, id: Crypto.randomBytes(16), label: label)
    }

    /// `fapictl keys generate --pkcs11 TOKEN_URI`: for each of `algorithms` without an active key, a key pair made
    /// inside the token and stored as the active key. Every pair is made before any is loaded through the engine:
    /// generation initialises the module by itself when the engine has not, which it may not do under the engine.
    /// Returns the records added.
    public func generateTokenKeys(_ algorithms: [JWSAlgorithm], in token: PKCS11URI, now: Date) async throws -> [SigningKeyRecord] {
        let records = try await store.signingKeys()
        let missing = algorithms.filter { algorithm in
            !records.contains { $0.algorithm == algorithm && $0.state(at: now) == .active }
        }
        let made = try missing.map { try makeTokenKeyPair($0, in: token, now: now) }
        var added: [SigningKeyRecord] = []
        for uri in made {
            var record = try tokenKeyRecord(uri, now: now).record
            record.recordedState = .active
            try await store.insertSigningKey(record, audit: Self.addedEvent(record, now: now))
            added.append(record)
        }
        return added
    }

    /// `fapictl keys import --pkcs11 URI [--now]`: registers a key already in the token. With no active key of its
    /// algorithm it is stored active; otherwise it is staged as `next`, published `publishAheadSeconds` before it
    /// signs exactly as a rotation stages a new key, or made active at once when `immediately` (an emergency).
    /// A kid already stored is refused.
    public func importTokenKey(_ uri: PKCS11URI, now: Date, immediately: Bool) async throws -> SigningKeyRecord {
        var record = try tokenKeyRecord(uri, now: now).record
        let records = try await store.signingKeys()
        if let known = records.first(where: { $0.kid == record.kid }) {
            throw PrivateKeyFile.Failure(description: "key \(record.kid) is stored already (\(known.keyFile), \(known.state(at: now).rawValue))")
        }
        guard records.contains(where: { $0.algorithm == record.algorithm && $0.state(at: now) == .active }) else {
            record.recordedState = .active
            try await store.insertSigningKey(record, audit: Self.addedEvent(record, now: now))
            return record
        }
        return try await schedule(record, now: now, immediately: immediately, how: "imported from \(record.keyFile)")
    }

    static func addedEvent(_ record: SigningKeyRecord, now: Date) -> AuditEvent {
        AuditEvent(.keyAdded, at: now, user: OperatingSystemUser.name, reason: "\(record.algorithm.rawValue) key \(record.kid) (\(record.keyFile))")
    }
}
