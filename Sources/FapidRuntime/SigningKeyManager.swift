public import AuthorizationServer
public import Foundation
public import JOSE
public import OpenSSLKit

/// Creates, rotates and loads the server's signing keys: records in the `SigningKeyStore`, private parts in
/// files under the keys directory, sealed into the record itself (with a key encryption key), or inside a
/// PKCS#11 token (records whose `keyFile` is a `pkcs11:` URI, loaded through OpenSSL's pkcs11 engine).
public struct SigningKeyManager: Sendable {
    /// Algorithms the server always has an active key for.
    public static let requiredAlgorithms: [JWSAlgorithm] = [.PS256, .ES256]

    public let store: any SigningKeyStore
    public let keysDirectory: String
    public let rsaBits: Int
    /// How long a rotated-out key stays published (`FapidConfiguration.retiringSeconds`).
    public let retiredPublishSeconds: Int
    /// How long a staged key is published before it signs (`key_publish_ahead_seconds`).
    public let publishAheadSeconds: Int
    /// 32 bytes; with it, generated keys are sealed into the database (AES-256-GCM, the kid as additional data).
    let keyEncryptionKey: [UInt8]?
    /// The PKCS#11 module and the token's user PIN, when keys may live in a token (`pkcs11_module`).
    public let pkcs11: PKCS11Settings?
    /// `keyFile` of a record whose key is sealed in the database.
    public static let sealedKeyFile = SigningKeyRecord.sealedKeyFile

    /// The module, and where the PIN comes from: read when a token key is first loaded or made, not when the manager is
    /// made, so `fapictl` commands that touch no key (`users add`, `audit export`) need no access to the PIN file.
    public struct PKCS11Settings: Sendable, CustomStringConvertible {
        public let module: String
        let readPIN: @Sendable () throws -> String?

        public init(module: String, pin: String?) {
            self.module = module
            self.readPIN = { pin }
        }

        public init(module: String, readPIN: @escaping @Sendable () throws -> String?) {
            self.module = module
            self.readPIN = readPIN
        }

        /// The PIN, read now (`FAPID_PKCS11_PIN`, or the 0600 `pkcs11_pin_file`).
        func pin() throws -> String? { try readPIN() }

        public var description: String { "PKCS#11 module \(module)" }
    }

    public init(
        store: any SigningKeyStore, keysDirectory: String, rsaBits: Int = 2048, retiredPublishSeconds: Int = 3600, publishAheadSeconds: Int = 900,
        keyEncryptionKey: [UInt8]? = nil, pkcs11: PKCS11Settings? = nil
    ) {
        self.keyEncryptionKey = keyEncryptionKey
        self.store = store
        self.keysDirectory = keysDirectory
        self.rsaBits = rsaBits
        self.retiredPublishSeconds = retiredPublishSeconds
        self.publishAheadSeconds = publishAheadSeconds
        self.pkcs11 = pkcs11
    }

    /// The manager the configuration describes; reads the key encryption key and the PKCS#11 PIN (fails when either is
    /// configured and cannot be read).
    public init(configuration: FapidConfiguration, store: any SigningKeyStore, rsaBits: Int = 2048) throws {
        self.init(
            store: store, keysDirectory: configuration.keysDirectory, rsaBits: rsaBits, retiredPublishSeconds: configuration.retiringSeconds,
            publishAheadSeconds: configuration.keyPublishAheadSeconds,
            keyEncryptionKey: try configuration.keyEncryptionKeyFile.map(SigningKeyManager.readKeyEncryptionKey),
            pkcs11: configuration.pkcs11Module.map { module in PKCS11Settings(module: module, readPIN: { try configuration.pkcs11PIN() }) })
    }

    /// Loads the private key `uri` names from the configured token.
    public func loadTokenKey(_ uri: PKCS11URI) throws -> AsymmetricKey {
        guard let pkcs11 else {
            throw PrivateKeyFile.Failure(description: "key \(uri) lives in a PKCS#11 token: set pkcs11_module (FAPID_PKCS11_MODULE)")
        }
        return try PKCS11Token.loadPrivateKey(module: pkcs11.module, uri: uri, pin: try pkcs11.pin())
    }

    func path(_ keyFile: String) -> String {
        keyFile.hasPrefix("/") ? keyFile : URL(fileURLWithPath: keysDirectory).appendingPathComponent(keyFile).path
    }

    /// The dev-layout file `make keys` writes for an algorithm (`signing-ps256.key`, `signing-es256.key`).
    static func devKeyFile(_ algorithm: JWSAlgorithm) -> String { "signing-\(algorithm.rawValue.lowercased()).key" }

    public func load(_ record: SigningKeyRecord) throws -> AsymmetricKey {
        let key: AsymmetricKey
        if record.location == .pkcs11 {
            let uri: PKCS11URI
            do { uri = try PKCS11URI(parsing: record.keyFile) } catch { throw PrivateKeyFile.Failure(description: "key \(record.kid): \(error)") }
            do {
                key = try loadTokenKey(uri)
            } catch {
                throw PrivateKeyFile.Failure(description: "key \(record.kid) (\(uri)) cannot be loaded from the token: \(error)")
            }
        } else if let sealed = record.sealedKey {
            guard let keyEncryptionKey else {
                throw PrivateKeyFile.Failure(description: "key \(record.kid) is sealed in the database: configure key_encryption_key_file")
            }
            let pem: [UInt8]
            do {
                pem = try SealedBox.open(sealed, key: keyEncryptionKey, additionalData: Array(record.kid.utf8))
            } catch {
                throw PrivateKeyFile.Failure(description: "key \(record.kid) does not open with the configured key encryption key")
            }
            key = try AsymmetricKey(pem: String(decoding: pem, as: UTF8.self))
        } else {
            key = try PrivateKeyFile.load(path(record.keyFile))
        }
        guard try JWK.thumbprint(of: key) == record.kid else {
            throw PrivateKeyFile.Failure(description: "\(record.keyFile) does not hold key \(record.kid)")
        }
        return key
    }

    /// Reads a key encryption key file: mode 0600, 64 hex digits (`openssl rand -hex 32`).
    public static func readKeyEncryptionKey(_ path: String) throws -> [UInt8] {
        try PrivateKeyFile.checkPermissions(path)
        guard let data = FileManager.default.contents(atPath: path) else { throw PrivateKeyFile.Failure(description: "cannot read \(path)") }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let digits = Array(text.utf8)
        guard digits.count == 2 * SealedBox.keyLength, let bytes = Optional(stride(from: 0, to: digits.count, by: 2).compactMap({ index in
            UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16)
        })), bytes.count == SealedBox.keyLength else {
            throw PrivateKeyFile.Failure(description: "\(path) must hold 32 bytes as 64 hex digits (openssl rand -hex 32)")
        }
        return bytes
    }

    /// Makes sure each algorithm in `algorithms` has an active key: registers the dev-layout file
    /// when `make keys` wrote one, otherwise generates a key when `generate` is true.
    /// Returns the records added.
    @discardableResult
    public func ensureActiveKeys(for algorithms: [JWSAlgorithm] = requiredAlgorithms, generate: Bool, now: Date) async throws -> [SigningKeyRecord] {
        let records = try await store.signingKeys()
        var added: [SigningKeyRecord] = []
        for algorithm in algorithms where !records.contains(where: { $0.algorithm == algorithm && $0.retiredAt == nil }) {
            let devFile = Self.devKeyFile(algorithm)
            var record: SigningKeyRecord
            if FileManager.default.fileExists(atPath: path(devFile)) {
                let key = try PrivateKeyFile.load(path(devFile))
                _ = try SigningKey(key: key, algorithm: algorithm, kid: "check")
                record = try SigningKeyRecord.make(for: key, algorithm: algorithm, keyFile: devFile, createdAt: now)
            } else if generate {
                record = try newKey(algorithm, now: now)
            } else {
                throw PrivateKeyFile.Failure(description: "no active \(algorithm) signing key; run: fapictl keys generate")
            }
            // Active from the start, and its `key.added` event says so: no `key.activated` follows.
            record.recordedState = .active
            guard try await register(record, devFile: devFile, now: now) else { continue }
            added.append(record)
        }
        return added
    }

    /// Stores `record` as its algorithm's active key; false when another instance sharing the database
    /// registered one first (that one is used, and a file generated for this one is removed).
    private func register(_ record: SigningKeyRecord, devFile: String, now: Date) async throws -> Bool {
        let event = AuditEvent(
            .keyAdded, at: now, user: OperatingSystemUser.name, reason: "\(record.algorithm.rawValue) key \(record.kid) (\(record.keyFile))")
        let failure: StorageError
        do {
            try await store.insertSigningKey(record, audit: event)
            return true
        } catch {
            failure = error
        }
        let records = try await store.signingKeys()
        guard failure.code == .conflict, records.contains(where: { $0.algorithm == record.algorithm && $0.retiredAt == nil }) else { throw failure }
        if record.keyFile != devFile, record.sealedKey == nil { try? FileManager.default.removeItem(atPath: path(record.keyFile)) }
        return false
    }

    /// Generates a new key for `algorithm` and schedules it (OIDC Core §10.1.1): published at once as `next`, it
    /// signs from `now + publishAheadSeconds`, when every key of the algorithm still signing then stops and stays
    /// published for `retiredPublishSeconds`. `immediately` (an emergency) makes it sign from `now`. When the
    /// algorithm's active key lives in a token, the new key is made in the same token.
    /// `inToken: false` makes the new key in a file (or sealed) even then: the way off a token that is gone.
    public func rotate(_ algorithm: JWSAlgorithm, now: Date, immediately: Bool = false, inToken: Bool = true) async throws -> SigningKeyRecord {
        let records = try await store.signingKeys()
        let active = records.last { $0.algorithm == algorithm && $0.state(at: now) == .active }
        let record: SigningKeyRecord
        if inToken, let active, active.location == .pkcs11 {
            record = try newTokenKey(algorithm, in: try PKCS11URI(parsing: active.keyFile).tokenPart, now: now)
        } else {
            record = try newKey(algorithm, now: now)
        }
        return try await schedule(record, now: now, immediately: immediately)
    }

    /// Stores `record` as its algorithm's next key (OIDC Core §10.1.1): published at once, signing from
    /// `now + publishAheadSeconds`, when every key of the algorithm still signing then stops and stays published for
    /// `retiredPublishSeconds`; with `immediately` (an emergency) signing from `now`. One audit event (`key.staged`
    /// or `key.activated`) in the same transaction; the record carries the state it names, so the key ring refresher
    /// does not record it again. Used by `keys rotate` and `keys import --pkcs11`.
    func schedule(_ scheduled: SigningKeyRecord, now: Date, immediately: Bool, how: String? = nil) async throws -> SigningKeyRecord {
        var record = scheduled
        let switchAt = immediately ? now : now.addingTimeInterval(TimeInterval(publishAheadSeconds))
        if !immediately { record.activatesAt = switchAt }
        // The state this call's audit event records, so the key ring refresher does not record it again.
        record.recordedState = record.state(at: now)
        let key = "\(record.algorithm.rawValue) key \(record.kid)" + (how.map { " (\($0))" } ?? "")
        let reason =
            immediately
            ? "\(key) active now (emergency rotation); the previous one is published for \(retiredPublishSeconds) s"
            : "\(key) published; active from \(switchAt.formatted(.iso8601)), the previous one then published for \(retiredPublishSeconds) s"
        try await store.rotateSigningKey(
            to: record, at: switchAt, publishUntil: switchAt.addingTimeInterval(TimeInterval(retiredPublishSeconds)),
            audit: AuditEvent(immediately ? .keyActivated : .keyStaged, at: now, user: OperatingSystemUser.name, reason: reason))
        return record
    }

    /// Generates a key and returns its record, not yet stored: sealed into the record with a key encryption key,
    /// otherwise written to a fresh key file `signing/<kid>.key` (0600).
    func newKey(_ algorithm: JWSAlgorithm, now: Date) throws -> SigningKeyRecord {
        let kind: AsymmetricKey.Kind =
            switch algorithm {
            case .PS256, .RS256: .rsa(bits: rsaBits)
            case .ES256: .p256
            case .EdDSA: .ed25519
            }
        let key = try AsymmetricKey.generate(kind)
        _ = try SigningKey(key: key, algorithm: algorithm, kid: "check")
        let kid = try JWK.thumbprint(of: key)
        if let keyEncryptionKey {
            let sealed = try SealedBox.seal(Array(try key.privateKeyPEM().utf8), key: keyEncryptionKey, additionalData: Array(kid.utf8))
            return try SigningKeyRecord.make(for: key, algorithm: algorithm, keyFile: Self.sealedKeyFile, createdAt: now, sealedKey: sealed)
        }
        let keyFile = "signing/\(kid).key"
        try PrivateKeyFile.write(try key.privateKeyPEM(), to: path(keyFile))
        return try SigningKeyRecord.make(for: key, algorithm: algorithm, keyFile: keyFile, createdAt: now)
    }

    /// Loads the stored records into `ring`, off the cooperative threads and for at most `timeout`. Throws, after
    /// applying what could be loaded, when an `active` or `next` key could not be loaded (each named, with where it
    /// lives and why) or when loading did not finish in time.
    public func reload(_ ring: KeyRing, now: Date, timeout: Duration = .seconds(30)) async throws {
        let records = try await store.signingKeys()
        let manager = self
        let unloadable = await ring.reloadOffThread(records: records, now: now, timeout: timeout, load: { try manager.load($0) })
        guard unloadable.isEmpty else {
            let named = unloadable.sorted { $0.key < $1.key }.map { kid, reason in
                let place = records.first { $0.kid == kid }?.keyFile ?? "?"
                return "\(kid) (\(place)): \(reason)"
            }
            throw PrivateKeyFile.Failure(description: "signing keys that cannot be loaded: " + named.joined(separator: "; "))
        }
    }
}
