public import AuthorizationServer
public import CertificateStatus
import Foundation
public import Logging

/// The daemon's configuration, read once at start-up and checked completely before anything listens.
///
/// Precedence, lowest first: built-in defaults, the JSON file given with `--config`, then the
/// `FAPID_*` environment variables. Every key is documented in `docs/configuration.md`.
public struct FapidConfiguration: Sendable, Equatable {
    /// `listen`, `FAPID_LISTEN`: host:port to bind, `[v6]:port` for IPv6. Default `127.0.0.1:8443`.
    public var listenHost: String
    public var listenPort: Int
    /// `allow_non_loopback`: must be true to bind anything but a loopback address.
    public var allowNonLoopback: Bool
    /// `issuer`, `FAPID_ISSUER`: the https issuer identifier, no trailing slash. Default `https://localhost:8443`.
    public var issuer: String
    /// `database`, `FAPID_DATABASE`: SQLite file path. Default `var/fapid.sqlite`.
    public var database: String
    /// `storage`, `FAPID_STORAGE`: `sqlite` (the default, one instance) or `postgres` (several instances
    /// sharing `database_url`).
    public var storage: StorageKind
    /// `database_url`, `FAPID_DATABASE_URL`: with `storage: postgres`,
    /// `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`.
    public var databaseURL: String?
    /// `database_max_connections`: PostgreSQL connections this instance may open. Default 20.
    public var databaseMaxConnections: Int
    /// `database_timeout_seconds`: longest wait for one PostgreSQL operation, connecting included; past it the
    /// request fails (`server_error`, `/healthz` 503) instead of waiting. Default 5.
    public var databaseTimeoutSeconds: Int
    /// `admin_socket`, `FAPID_ADMIN_SOCKET`: Unix socket for `fapictl` live operations. Default `var/fapid.sock`.
    public var adminSocket: String
    /// `admin_socket_group`, `FAPID_ADMIN_SOCKET_GROUP`: a Unix group whose members may use the admin socket
    /// (then mode 0660, owned by that group); each CIBA decision records the connecting account (SO_PEERCRED).
    /// Default none: mode 0600, the daemon's account only.
    public var adminSocketGroup: String? = nil
    /// `keys_dir`, `FAPID_KEYS_DIR`: where the dev-layout key files are read from. Default `keys/dev`.
    public var keysDirectory: String
    /// `key_encryption_key_file`, `FAPID_KEY_ENCRYPTION_KEY_FILE`: a file (mode 0600) holding 32 random bytes as
    /// 64 hex digits. When set, keys fapid generates are sealed into the database instead of written to
    /// `keys_dir`, so instances on several hosts share them. Default none.
    public var keyEncryptionKeyFile: String?
    /// `migrations_dir`, `FAPID_MIGRATIONS_DIR`: holds `sqlite/` and `postgres/`, the numbered SQL files of
    /// each backend. Default `migrations`.
    public var migrationsDirectory: String
    /// `log_level`, `FAPID_LOG_LEVEL`: trace, debug, info, notice, warning, error, critical. Default `info`.
    public var logLevel: Logger.Level
    /// `tls_certificate`: server certificate chain (PEM). Default `<keys_dir>/server.pem`.
    public var tlsCertificate: String
    /// `tls_private_key`: server private key (PEM, mode 0600). Default `<keys_dir>/server.key`.
    public var tlsPrivateKey: String
    /// `client_ca`: CA certificates trusted for `tls_client_auth`. Default `<keys_dir>/ca.pem`.
    public var clientCA: String
    /// `trusted_proxies`: addresses allowed to pass a client certificate in the RFC 9440 `Client-Cert` header.
    public var trustedProxies: [String]
    /// `trusted_proxy_certificates`: `x5t#S256` (base64url SHA-256 of the DER) of the certificates the trusted proxies
    /// present as TLS clients. When set, `Client-Cert` is believed only from a hop that presented one of them (RFC 9440 §4).
    public var trustedProxyCertificates: [String] = []
    /// `software_statement_max_age_seconds`: a software statement whose `iat` is older is refused at registration;
    /// its `jti` is remembered as long. Default 2592000 (30 days).
    public var softwareStatementMaxAgeSeconds: Int = 2_592_000
    /// `key_refresh_seconds`: how often the daemon re-reads signing-key records (rotation by `fapictl`). Default 30.
    public var keyRefreshSeconds: Int
    /// `retired_key_publish_seconds`: how long a rotated-out key stays in `/jwks` (`retiring`); never less than the
    /// longest lifetime of any token the server signs (`retiringSeconds`). Default 3600.
    public var retiredKeyPublishSeconds: Int
    /// `key_publish_ahead_seconds`: how long `fapictl keys rotate` publishes the next key in `/jwks` before it signs
    /// (OIDC Core §10.1.1). At least `jwks_max_age_seconds` + `key_refresh_seconds`, so every verifier that caches
    /// `/jwks` as long as it is told has the key before the first token it signs. Default 900.
    public var keyPublishAheadSeconds: Int = 900
    /// `jwks_max_age_seconds`: the `Cache-Control: max-age` of `/jwks` (and of discovery). Default 300.
    public var jwksMaxAgeSeconds: Int = 300
    /// `pkcs11_module`, `FAPID_PKCS11_MODULE`: the PKCS#11 module (shared library) of the token that holds keys named
    /// by `pkcs11:` URIs, e.g. `/usr/lib/softhsm/libsofthsm2.so`. Nil: no key may live in a token.
    public var pkcs11Module: String?
    /// `pkcs11_pin_file`, `FAPID_PKCS11_PIN_FILE`: a file (mode 0600) holding the token's user PIN.
    public var pkcs11PinFile: String?
    /// `pkcs11_sessions`, `FAPID_PKCS11_SESSIONS`: how many signatures may be in the token at once (the threads of the
    /// `SigningPool`); at most 64 more per thread wait. Match what the token or HSM partition allows. Default 4.
    public var pkcs11Sessions: Int = 4
    /// How long a rotated-out key stays published: `retired_key_publish_seconds`, but never less than the longest
    /// lifetime of anything the server signs (access tokens, ID tokens, JARM responses), so that every token a key
    /// signed expires before the key leaves `/jwks`.
    /// An instance that has not yet seen an emergency rotation (`--now`) may sign with the old key until its next
    /// refresh, hence the refresh on top.
    public var retiringSeconds: Int {
        max(retiredKeyPublishSeconds, accessTokenLifetime, idTokenLifetimeSeconds, jarmResponseLifetimeSeconds) + keyRefreshSeconds
    }

    /// The token's user PIN: `FAPID_PKCS11_PIN`, else the first line of `pkcs11_pin_file` (which must be 0600),
    /// else nil (a token without login).
    public func pkcs11PIN() throws -> String? {
        if let pkcs11Pin { return pkcs11Pin }
        guard let pkcs11PinFile else { return nil }
        try PrivateKeyFile.checkPermissions(pkcs11PinFile, what: "pkcs11_pin_file")
        guard let data = FileManager.default.contents(atPath: pkcs11PinFile) else {
            throw PrivateKeyFile.Failure(description: "cannot read pkcs11_pin_file \(pkcs11PinFile)")
        }
        // The first line, without its end (LF or CRLF): an editor's line ending is not part of the PIN.
        let line = data.prefix { $0 != UInt8(ascii: "\n") }
        let pin = String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
        guard !pin.isEmpty else { throw PrivateKeyFile.Failure(description: "pkcs11_pin_file \(pkcs11PinFile) is empty") }
        return pin
    }

    /// `FAPID_PKCS11_PIN` only (never the configuration file): the user PIN itself, for containers. Wins over the file.
    public var pkcs11Pin: String?
    /// `access_token_lifetime`: seconds an access token lives. Default 300.
    public var accessTokenLifetime: Int
    /// `outbound_ca`: extra CA certificates trusted for outgoing HTTPS (client `jwks_uri`), beside the
    /// system store. Default `<keys_dir>/ca.pem`.
    public var outboundCA: String
    /// `certificate_status`: `fail_closed` (default) rejects a client certificate whose revocation status
    /// cannot be learned; `soft_fail` accepts it, logged.
    public var certificateStatusMode: StatusPolicy.Mode
    /// `certificate_status_soft_fail_anchors`: PEM files of trust anchors whose certificates soft-fail.
    public var certificateStatusSoftFailAnchors: [String]
    /// `certificate_status_require_pointers`: reject certificates naming no OCSP responder or CRL. Default false.
    public var certificateStatusRequirePointers: Bool
    /// `ocsp_responder`: an OCSP URL used instead of the certificates' AIA.
    public var ocspResponder: String?
    /// `ocsp_timeout_seconds`: timeout of one OCSP or CRL fetch. Default 2.
    public var ocspTimeoutSeconds: Int
    /// `certificate_status_cache_seconds`: the longest an OCSP or CRL answer is reused. Default 3600.
    public var certificateStatusCacheSeconds: Int
    /// `certificate_status_skew_seconds`: clock tolerance for OCSP and CRL validity windows. Default 300.
    public var certificateStatusSkewSeconds: Int
    /// `certificate_status_refresh_seconds`: how often cached answers due to expire are re-checked. Default 30.
    public var certificateStatusRefreshSeconds: Int
    /// `ocsp_max_age_seconds`: the oldest `thisUpdate` accepted in an OCSP answer that has no `nextUpdate`
    /// (RFC 5019 §4); older ones are refused (replay). Default: `certificate_status_cache_seconds`.
    public var ocspMaxAgeSeconds: Int? = nil
    /// `ocsp_require_nonce`: refuse OCSP answers that do not echo the request's nonce (RFC 6960 §4.4.1), so a
    /// recorded answer cannot be replayed; the CRL decides instead. Default false (RFC 5019 responders
    /// pre-sign their answers and ignore nonces).
    public var ocspRequireNonce: Bool = false
    /// `ocsp_require_nonce_anchors`: PEM files of trust anchors whose certificates' OCSP answers must echo the
    /// nonce, when `ocsp_require_nonce` is false. Default `[]`.
    public var ocspRequireNonceAnchors: [String] = []

    /// A trusted directory of accredited TPPs (`directories`, an array of objects).
    public struct Directory: Sendable, Equatable {
        public var name: String
        /// Expected `iss` of its software statements, if it names one.
        public var issuer: String?
        /// JWKS signing its software statements: a file, or an https URL.
        public var jwksFile: String?
        public var jwksURI: String?
        /// CA certificates issuing its members' transport certificates.
        public var caFile: String
        /// Role to scopes.
        public var roles: [String: [String]]
        /// `require_exp`: its software statements must carry `exp`. Default false.
        public var requireExpiry: Bool = false
    }

    /// `require_pushed_authorization_requests`: PAR for every client (FAPI 2). Default false: clients decide
    /// with their own metadata of that name (which defaults to true).
    public var requirePushedAuthorizationRequests: Bool = false
    /// `fapi_profile`, `FAPID_FAPI_PROFILE`: the FAPI profile of a client registered (by `fapictl clients add`/`update`
    /// or at `/register`) without `fapi_profile` of its own: `fapi1-advanced` (default), `fapi2-security-profile` or
    /// `fapi2-message-signing`. The value is stored with the client; clients registered earlier keep theirs.
    public var fapiProfile: FAPIProfile = .fapi1Advanced
    /// `authorization_details_pass_through` (`FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH`, JSON) and `dual_control`
    /// (`FAPID_DUAL_CONTROL`, JSON): RFC 9396 types accepted beside the built-in ones, each with its JSON Schema
    /// (`{"TYPE": <schema>}`), and which details need several staff approvers
    /// (`{"payment_initiation": {"above_amount": {"currency": "GBP", "amount": "100.00"}, "approvals_required": 2}}`).
    /// Default: no pass-through types, one approver. A value that cannot be used refuses start-up, naming the key.
    public var authorizationDetails = AuthorizationDetailsSettings()

    /// `dpop_nonce_required`, `FAPID_DPOP_NONCE_REQUIRED`: every DPoP proof must carry a nonce this server provided
    /// (RFC 9449 §8; refused with `use_dpop_nonce` and a fresh `DPoP-Nonce` otherwise). Default false: a proof
    /// without a nonce is accepted, one with a nonce must carry a current one.
    public var dpopNonceRequired: Bool = false

    /// `tracing_otlp_endpoint`, `FAPID_TRACING_OTLP_ENDPOINT`: the OTLP/HTTP traces URL of an OpenTelemetry
    /// collector (`http://127.0.0.1:4318/v1/traces`). Unset (default), tracing is off: no tracer, no span, no cost.
    /// Set, each request, outgoing call and store operation is a span (what a span holds: `docs/operations.md`).
    public var tracingOTLPEndpoint: String?
    /// `tracing_service_name`, `FAPID_TRACING_SERVICE_NAME`: the `service.name` of the spans. Default `fapid`.
    public var tracingServiceName: String = "fapid"
    /// `tracing_otlp_protocol`, `FAPID_TRACING_OTLP_PROTOCOL`: `http/protobuf` (default) or `http/json`.
    public var tracingOTLPProtocol: TracingProtocol = .protobuf

    /// `log_format`, `FAPID_LOG_FORMAT`: `text` (default) or `json` (one JSON object per line).
    public var logFormat: LogFormat = .text
    /// `metrics_listen`, `FAPID_METRICS_LISTEN`: `main` (default: `/metrics` on the main port, to loopback
    /// peers only), `off`, or `host:port` for a plain-HTTP listener of its own (loopback unless allowed).
    public var metricsListen: MetricsListen = .main
    /// `audit_checkpoint_seconds`: how often the chain head is signed when it moved. Default 300.
    public var auditCheckpointSeconds: Int = 300
    /// `rate_limit_client_per_second` and `rate_limit_client_burst`: token bucket per client and endpoint
    /// on /token, /par, /bc-authorize, /register, /introspect, /revoke. Defaults 50 and 100; 0 turns it off.
    public var rateLimitClientPerSecond: Int = 50
    public var rateLimitClientBurst: Int = 100
    /// `rate_limit_address_per_second` and `rate_limit_address_burst`: the same per source address.
    /// Defaults 100 and 200; 0 turns it off.
    public var rateLimitAddressPerSecond: Int = 100
    public var rateLimitAddressBurst: Int = 200
    /// `rate_limit_authorize_per_second` and `rate_limit_authorize_burst`: token bucket per source address (behind
    /// a trusted proxy, the forwarded one) on `GET /authorize`, each of which stores an interaction.
    /// Defaults 10 and 50; 0 turns it off.
    public var rateLimitAuthorizePerSecond: Int = 10
    public var rateLimitAuthorizeBurst: Int = 50
    /// `rate_limit_sign_in_per_second` and `rate_limit_sign_in_burst`: the same on `POST /authorize/login`, each
    /// of which costs a password hash. Defaults 2 and 20; 0 turns it off.
    public var rateLimitSignInPerSecond: Int = 2
    public var rateLimitSignInBurst: Int = 20
    /// `idle_timeout_seconds`: a connection with no request in progress is closed after this long. Default 60.
    public var idleTimeoutSeconds: Int = 60
    /// `request_timeout_seconds`: the longest a client may take to send one whole request (head and body)
    /// once it started; slow senders are cut off. Default 10.
    public var requestTimeoutSeconds: Int = 10
    /// `max_header_bytes`: the largest request head accepted. Default 16384.
    public var maxHeaderBytes: Int = 16_384
    /// `max_body_bytes`: the largest request body accepted (413 beyond). Default 65536.
    public var maxBodyBytes: Int = 65_536
    /// `outbound_allow_private_networks`, `FAPID_OUTBOUND_ALLOW_PRIVATE_NETWORKS`: let client-given URLs
    /// (`jwks_uri`, CIBA notification endpoints) reach loopback and private addresses. Default false.
    public var outboundAllowPrivateNetworks: Bool = false

    /// `client_assertion_max_lifetime_seconds`: how far in the future a `private_key_jwt` assertion's `exp` may lie.
    /// No spec sets a bound; stock clients (authlib) use one hour. Its `jti` stays single-use until `exp`. Default 3600.
    public var clientAssertionMaxLifetimeSeconds: Int = 3600
    /// `pushed_request_lifetime_seconds`: `expires_in` of a PAR `request_uri` (RFC 9126 §2.2; FAPI 2 SP: under 600). Default 90.
    public var pushedRequestLifetimeSeconds: Int = 90
    /// `authorization_code_lifetime_seconds`: how long an authorization code may be redeemed
    /// (FAPI 2 SP §5.3.1.1-12: at most 60). Default 60.
    public var authorizationCodeLifetimeSeconds: Int = 60
    /// `id_token_lifetime_seconds`: from an ID token's `iat` to its `exp` (OIDC Core §2). Default 300.
    public var idTokenLifetimeSeconds: Int = 300
    /// `refresh_token_lifetime_seconds`: how long a refresh token can be used (refresh tokens are not rotated).
    /// Default 7776000 (90 days).
    public var refreshTokenLifetimeSeconds: Int = 7_776_000
    /// `jarm_response_lifetime_seconds`: how far ahead of its `iat` a JARM response's `exp` lies (JARM §4.1:
    /// short-lived). Default 300.
    public var jarmResponseLifetimeSeconds: Int = 300
    /// `ciba_request_lifetime_seconds`: `expires_in` of a CIBA request that names no `requested_expiry`
    /// (CIBA Core §7.3). Default 300.
    public var cibaRequestLifetimeSeconds: Int = 300
    /// `ciba_request_max_lifetime_seconds`: the longest `requested_expiry` honoured (CIBA Core §7.1); a longer
    /// one is cut to it. At least `ciba_request_lifetime_seconds`. Default 600.
    public var cibaRequestMaxLifetimeSeconds: Int = 600
    /// `ciba_poll_interval_seconds`: the `interval` a poll or ping client is given (CIBA Core §7.3, 5 when
    /// absent); it grows by 5 at each `slow_down`. Default 5.
    public var cibaPollIntervalSeconds: Int = 5
    /// `ciba_notification_lease_seconds`: how long a claimed ping or push notification is one instance's to
    /// send before another may retry it. Default 30.
    public var cibaNotificationLeaseSeconds: Int = 30
    /// `psu_interaction_lifetime_seconds`: how long the PSU has to sign in and consent. Default 600.
    public var psuInteractionLifetimeSeconds: Int = 600
    /// `psu_session_lifetime_seconds`: how long a PSU sign-in is remembered by its cookie (`max_age` and
    /// `prompt=none` are answered from it). Default 900.
    public var psuSessionLifetimeSeconds: Int = 900
    /// `psu_interactions_per_request_uri`: live sign-in forms one `request_uri` may have open, so a leaked one
    /// opened in a loop cannot fill the database (CWE-400). Default 10.
    public var psuInteractionsPerRequestURI: Int = 10

    /// `directories`: default one development directory from `<keys_dir>/directory.jwks.json` and `<keys_dir>/ca.pem`.
    public var directories: [Directory]

    public static let defaults = FapidConfiguration(
        listenHost: "127.0.0.1",
        listenPort: 8443,
        allowNonLoopback: false,
        issuer: "https://localhost:8443",
        database: "var/fapid.sqlite",
        storage: .sqlite,
        databaseURL: nil,
        databaseMaxConnections: 20,
        databaseTimeoutSeconds: 5,
        adminSocket: "var/fapid.sock",
        keysDirectory: "keys/dev",
        keyEncryptionKeyFile: nil,
        migrationsDirectory: "migrations",
        logLevel: .info,
        tlsCertificate: "keys/dev/server.pem",
        tlsPrivateKey: "keys/dev/server.key",
        clientCA: "keys/dev/ca.pem",
        trustedProxies: [],
        keyRefreshSeconds: 30,
        retiredKeyPublishSeconds: 3600,
        accessTokenLifetime: 300,
        outboundCA: "keys/dev/ca.pem",
        certificateStatusMode: .failClosed,
        certificateStatusSoftFailAnchors: [],
        certificateStatusRequirePointers: false,
        ocspResponder: nil,
        ocspTimeoutSeconds: 2,
        certificateStatusCacheSeconds: 3600,
        certificateStatusSkewSeconds: 300,
        certificateStatusRefreshSeconds: 30,
        directories: []
    )

    static let defaultRoles: [String: [String]] = [
        "AISP": ["openid", "accounts"], "PISP": ["openid", "payments"], "CBPII": ["openid", "fundsconfirmations"],
    ]

    public var listen: String { listenHost.contains(":") ? "[\(listenHost)]:\(listenPort)" : "\(listenHost):\(listenPort)" }

    /// Where a file of the dev key layout lives (`server.pem`, `ca.pem`, `signing-ps256.key`, …).
    public func keyPath(_ name: String) -> String {
        keysDirectory.hasSuffix("/") ? keysDirectory + name : keysDirectory + "/" + name
    }
}

/// `storage`: the embedded SQLite file (one instance) or a PostgreSQL database (several instances).
public enum StorageKind: String, Sendable, CaseIterable {
    case sqlite, postgres
}

/// `log_format`: one text line per entry, or one JSON object per line.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// `tracing_otlp_protocol`: the OTLP/HTTP encoding of exported spans.
public enum TracingProtocol: String, Sendable, CaseIterable {
    case protobuf = "http/protobuf"
    case json = "http/json"
}

/// `metrics_listen`: `/metrics` on the main port (loopback peers only), nowhere, or a plain-HTTP listener of its own.
public enum MetricsListen: Sendable, Equatable, CustomStringConvertible {
    case main, off
    case address(host: String, port: Int)

    public var description: String {
        switch self {
        case .main: "main"
        case .off: "off"
        case .address(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// A configuration value that cannot be used; names the key and why.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { "configuration \(key): \(reason)" }
}

extension FapidConfiguration {
    /// `type:approvals` for each dual-control rule (type names are the bank's own configuration, not TPP text).
    var dualControlSummary: String {
        authorizationDetails.dualControl.rules.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.approvalsRequired)" }.joined(separator: ",")
    }

    /// What the audit event `configuration.loaded` records: the settings that decide who gets access, no secrets.
    public var summary: String {
        [
            "listen=\(listen)", "issuer=\(issuer)", "database=\(database)", "certificate_status=\(certificateStatusMode.rawValue)",
            "trusted_proxies=\(trustedProxies.joined(separator: ","))", "directories=\(directories.map(\.name).joined(separator: ","))",
            "access_token_lifetime=\(accessTokenLifetime)", "require_par=\(requirePushedAuthorizationRequests)",
            "rate_limits=client:\(rateLimitClientPerSecond)/\(rateLimitClientBurst),address:\(rateLimitAddressPerSecond)/\(rateLimitAddressBurst)",
            "metrics=\(metricsListen)", "authorization_details_types=\(authorizationDetails.supportedTypes.joined(separator: ","))",
            "dual_control=\(dualControlSummary)", "tracing=\(tracingOTLPEndpoint.map { _ in "otlp" } ?? "off")",
        ].joined(separator: " ")
    }
}
