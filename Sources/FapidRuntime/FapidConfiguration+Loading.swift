public import Foundation
import AuthorizationServer
import JOSE
import OpenSSLKit

extension FapidConfiguration {
    /// Every file key can also be set as `FAPID_<KEY IN UPPER SNAKE CASE>` (`listen` as `FAPID_LISTEN`, `keys_dir` as
    /// `FAPID_KEYS_DIR`); arrays and objects are given as JSON text.
    static var environmentKeys: [(variable: String, key: String)] {
        fileKeys.sorted().map { ("FAPID_" + $0.uppercased(), $0) }
    }

    /// Every key the file may hold, from the one table that reads them.
    static var fileKeys: Set<String> { Set(keys.map(\.name)) }

    /// Defaults, then `file` (a JSON object) when given, then `environment`; then checks everything.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError)
        -> FapidConfiguration
    {
        var values: [String: JSON] = [:]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigurationError(key: "--config", reason: "cannot read \(file)")
            }
            let object: [String: JSON]
            do {
                object = try JSON.parseObject([UInt8](data))
            } catch {
                throw ConfigurationError(key: "--config", reason: "\(file) is not a JSON object")
            }
            if let unknown = object.keys.sorted().first(where: { !fileKeys.contains($0) }) {
                throw ConfigurationError(key: unknown, reason: "unknown key in \(file)")
            }
            values = object
        }
        for (variable, key) in environmentKeys {
            guard let value = environment[variable] else { continue }
            // Arrays and objects (trusted_proxies, directories) arrive as JSON text.
            if value.hasPrefix("[") || value.hasPrefix("{"), let parsed = try? JSON.parse(Array(value.utf8)) {
                values[key] = parsed
            } else if value == "true" || value == "false" {
                values[key] = .bool(value == "true")
            } else {
                values[key] = .string(value)
            }
        }
        var config = try resolve(values)
        // The PIN itself only ever comes from the environment; a file holds it otherwise (pkcs11_pin_file).
        if let pin = environment["FAPID_PKCS11_PIN"], !pin.isEmpty { config.pkcs11Pin = pin }
        return config
    }

    static func resolve(_ values: [String: JSON]) throws(ConfigurationError) -> FapidConfiguration {
        var config = FapidConfiguration.defaults
        for key in keys {
            guard let value = values[key.name] else { continue }
            try key.read(value, values, &config)
        }
        // Defaults that depend on other keys.
        if values["tls_certificate"] == nil { config.tlsCertificate = config.keyPath("server.pem") }
        if values["tls_private_key"] == nil { config.tlsPrivateKey = config.keyPath("server.key") }
        if values["client_ca"] == nil { config.clientCA = config.keyPath("ca.pem") }
        if values["outbound_ca"] == nil { config.outboundCA = config.keyPath("ca.pem") }
        if values["directories"] == nil {
            config.directories = [
                Directory(
                    name: "development", issuer: nil, jwksFile: config.keyPath("directory.jwks.json"), jwksURI: nil, caFile: config.keyPath("ca.pem"),
                    roles: defaultRoles)
            ]
        }
        if config.storage == .postgres, config.databaseURL == nil {
            throw ConfigurationError(key: "database_url", reason: "storage postgres needs database_url")
        }
        try config.check()
        return config
    }

    /// Every key of the file, each declared once: its name (also `FAPID_<NAME>` in the environment), how its
    /// value is read and checked, and where it goes. Keys are read in this order (`database` after `storage`).
    static var keys: [ConfigurationKey] {
        [
            .custom("listen") { value, _, config throws(ConfigurationError) in
                (config.listenHost, config.listenPort) = try parseListen(try ConfigurationKey.text(value, "listen"))
            },
            .flag("allow_non_loopback", \.allowNonLoopback),
            .text("issuer", \.issuer),
            .choice("storage", \.storage),
            .custom("database_url") { value, _, config throws(ConfigurationError) in
                let url = try ConfigurationKey.text(value, "database_url")
                guard isPostgresURL(url) else { throw ConfigurationError(key: "database_url", reason: "must be a postgres:// URL") }
                config.databaseURL = url
            },
            .custom("database") { value, values, config throws(ConfigurationError) in
                // `database` (FAPID_DATABASE) takes a SQLite path, or a postgres:// URL: the same as storage postgres + database_url.
                let database = try ConfigurationKey.text(value, "database")
                guard isPostgresURL(database) else {
                    config.database = database
                    return
                }
                if values["storage"] != nil && config.storage != .postgres {
                    throw ConfigurationError(key: "database", reason: "a postgres:// URL needs storage postgres (or no storage key)")
                }
                config.storage = .postgres
                config.databaseURL = database
            },
            .number("database_max_connections", \.databaseMaxConnections, in: 1...1000),
            .number("database_timeout_seconds", \.databaseTimeoutSeconds, in: 1...300),
            .text("admin_socket", \.adminSocket),
            .custom("admin_socket_group") { value, _, config throws(ConfigurationError) in
                // A group name as useradd(8) allows it; whether it exists is checked when the socket is created.
                let group = try ConfigurationKey.text(value, "admin_socket_group")
                let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-".unicodeScalars)
                guard group.utf8.count <= 32, group.unicodeScalars.allSatisfy(allowed.contains), group.first != "-"
                else { throw ConfigurationError(key: "admin_socket_group", reason: "must be a Unix group name") }
                config.adminSocketGroup = group
            },
            .text("keys_dir", \.keysDirectory),
            .optionalText("key_encryption_key_file", \.keyEncryptionKeyFile),
            .optionalText("pkcs11_module", \.pkcs11Module),
            .optionalText("pkcs11_pin_file", \.pkcs11PinFile),
            .number("pkcs11_sessions", \.pkcs11Sessions, in: 1...256),
            .text("migrations_dir", \.migrationsDirectory),
            .choice("log_level", \.logLevel, caseInsensitive: true),
            .text("tls_certificate", \.tlsCertificate),
            .text("tls_private_key", \.tlsPrivateKey),
            .text("client_ca", \.clientCA),
            .text("outbound_ca", \.outboundCA),
            .list("trusted_proxies", \.trustedProxies, reason: "must be an array of IP addresses") { address throws(ConfigurationError) in
                guard isIPAddress(address) else { throw ConfigurationError(key: "trusted_proxies", reason: "\(address) is not an IP address") }
            },
            // x5t#S256: 43 base64url characters.
            .list(
                "trusted_proxy_certificates", \.trustedProxyCertificates,
                reason: "must be an array of x5t#S256 thumbprints (base64url SHA-256)"
            ) { pin throws(ConfigurationError) in
                guard pin.count == 43, (try? Base64URL.decode(pin))?.count == 32 else {
                    throw ConfigurationError(
                        key: "trusted_proxy_certificates", reason: "must be an array of x5t#S256 thumbprints (base64url SHA-256)")
                }
            },
            .number("software_statement_max_age_seconds", \.softwareStatementMaxAgeSeconds, in: 60...31_536_000),
            .number("key_refresh_seconds", \.keyRefreshSeconds, in: 1...86_400),
            .number("retired_key_publish_seconds", \.retiredKeyPublishSeconds, in: 0...31_536_000),
            .number("key_publish_ahead_seconds", \.keyPublishAheadSeconds, in: 1...31_536_000),
            .number("jwks_max_age_seconds", \.jwksMaxAgeSeconds, in: 0...86_400),
            .number("access_token_lifetime", \.accessTokenLifetime, in: 1...86_400),
            .choice("certificate_status", \.certificateStatusMode),
            .list("certificate_status_soft_fail_anchors", \.certificateStatusSoftFailAnchors, reason: "must be an array of PEM file paths"),
            .flag("certificate_status_require_pointers", \.certificateStatusRequirePointers),
            .custom("ocsp_responder") { value, _, config throws(ConfigurationError) in
                let responder = try ConfigurationKey.text(value, "ocsp_responder")
                guard responder.hasPrefix("http://") || responder.hasPrefix("https://") else {
                    throw ConfigurationError(key: "ocsp_responder", reason: "must be an http or https URL")
                }
                config.ocspResponder = responder
            },
            .number("ocsp_timeout_seconds", \.ocspTimeoutSeconds, in: 1...60),
            .number("certificate_status_cache_seconds", \.certificateStatusCacheSeconds, in: 1...604_800),
            .number("certificate_status_skew_seconds", \.certificateStatusSkewSeconds, in: 0...3600),
            .number("certificate_status_refresh_seconds", \.certificateStatusRefreshSeconds, in: 1...3600),
            .optionalNumber("ocsp_max_age_seconds", \.ocspMaxAgeSeconds, in: 1...604_800),
            .flag("ocsp_require_nonce", \.ocspRequireNonce),
            .list("ocsp_require_nonce_anchors", \.ocspRequireNonceAnchors, reason: "must be an array of PEM file paths"),
            .flag("require_pushed_authorization_requests", \.requirePushedAuthorizationRequests),
            .flag("dpop_nonce_required", \.dpopNonceRequired),
            .choice("fapi_profile", \.fapiProfile),
            // Read before dual_control, whose rules may name the pass-through types.
            .custom("authorization_details_pass_through") { value, _, config throws(ConfigurationError) in
                do throws(DetailError) {
                    config.authorizationDetails.passThrough = try AuthorizationDetailsSettings.passThrough(value)
                } catch {
                    throw ConfigurationError(key: "authorization_details_pass_through", reason: error.reason)
                }
            },
            .custom("dual_control") { value, _, config throws(ConfigurationError) in
                let known = Set(AuthorizationDetailsPolicy.builtInTypes + config.authorizationDetails.passThrough.keys)
                do throws(DetailError) {
                    config.authorizationDetails.dualControl = try DualControlPolicy(value, knownTypes: known)
                } catch {
                    throw ConfigurationError(key: "dual_control", reason: error.reason)
                }
            },
            .choice("log_format", \.logFormat),
            .custom("tracing_otlp_endpoint") { value, _, config throws(ConfigurationError) in
                let endpoint = try ConfigurationKey.text(value, "tracing_otlp_endpoint")
                guard let url = URL(string: endpoint), url.scheme == "http" || url.scheme == "https", url.host != nil, url.query == nil,
                    url.user == nil
                else {
                    throw ConfigurationError(
                        key: "tracing_otlp_endpoint", reason: "must be an http or https URL without query or user info (the collector's /v1/traces)")
                }
                // Spans name clients and interactions: they cross the network only encrypted.
                let host = (url.host?.lowercased() ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                let loopback = Self.isLoopback(host)
                guard url.scheme == "https" || loopback else {
                    throw ConfigurationError(key: "tracing_otlp_endpoint", reason: "must be https unless the collector is on loopback")
                }
                config.tracingOTLPEndpoint = endpoint
            },
            .text("tracing_service_name", \.tracingServiceName),
            .choice("tracing_otlp_protocol", \.tracingOTLPProtocol),
            .custom("metrics_listen") { value, values, config throws(ConfigurationError) in
                let metrics = try ConfigurationKey.text(value, "metrics_listen")
                switch metrics {
                case "main": config.metricsListen = .main
                case "off": config.metricsListen = .off
                default:
                    let (host, port) = try parseListen(metrics)
                    if !(values["allow_non_loopback"]?.boolValue ?? false) && !isLoopback(host) {
                        throw ConfigurationError(key: "metrics_listen", reason: "\(host) is not a loopback address; set allow_non_loopback to true")
                    }
                    config.metricsListen = .address(host: host, port: port)
                }
            },
            .number("audit_checkpoint_seconds", \.auditCheckpointSeconds, in: 1...86_400),
            .number("rate_limit_client_per_second", \.rateLimitClientPerSecond, in: 0...1_000_000),
            .number("rate_limit_client_burst", \.rateLimitClientBurst, in: 1...1_000_000),
            .number("rate_limit_address_per_second", \.rateLimitAddressPerSecond, in: 0...1_000_000),
            .number("rate_limit_address_burst", \.rateLimitAddressBurst, in: 1...1_000_000),
            .number("rate_limit_authorize_per_second", \.rateLimitAuthorizePerSecond, in: 0...1_000_000),
            .number("rate_limit_authorize_burst", \.rateLimitAuthorizeBurst, in: 1...1_000_000),
            .number("rate_limit_sign_in_per_second", \.rateLimitSignInPerSecond, in: 0...1_000_000),
            .number("rate_limit_sign_in_burst", \.rateLimitSignInBurst, in: 1...1_000_000),
            .number("idle_timeout_seconds", \.idleTimeoutSeconds, in: 1...3600),
            .number("request_timeout_seconds", \.requestTimeoutSeconds, in: 1...600),
            .number("max_header_bytes", \.maxHeaderBytes, in: 1024...1_048_576),
            .number("max_body_bytes", \.maxBodyBytes, in: 1024...16_777_216),
            .number("client_assertion_max_lifetime_seconds", \.clientAssertionMaxLifetimeSeconds, in: 1...86_400),
            .number("pushed_request_lifetime_seconds", \.pushedRequestLifetimeSeconds, in: 5...600),
            .number("authorization_code_lifetime_seconds", \.authorizationCodeLifetimeSeconds, in: 1...60),
            .number("id_token_lifetime_seconds", \.idTokenLifetimeSeconds, in: 1...86_400),
            .number("refresh_token_lifetime_seconds", \.refreshTokenLifetimeSeconds, in: 60...31_536_000),
            .number("jarm_response_lifetime_seconds", \.jarmResponseLifetimeSeconds, in: 1...3600),
            .number("ciba_request_lifetime_seconds", \.cibaRequestLifetimeSeconds, in: 1...86_400),
            .number("ciba_request_max_lifetime_seconds", \.cibaRequestMaxLifetimeSeconds, in: 1...86_400),
            .number("ciba_poll_interval_seconds", \.cibaPollIntervalSeconds, in: 1...300),
            .number("ciba_notification_lease_seconds", \.cibaNotificationLeaseSeconds, in: 5...3600),
            .number("psu_interaction_lifetime_seconds", \.psuInteractionLifetimeSeconds, in: 60...86_400),
            .number("psu_session_lifetime_seconds", \.psuSessionLifetimeSeconds, in: 60...2_592_000),
            .number("psu_interactions_per_request_uri", \.psuInteractionsPerRequestURI, in: 1...1000),
            .flag("outbound_allow_private_networks", \.outboundAllowPrivateNetworks),
            .custom("directories") { value, _, config throws(ConfigurationError) in
                guard let entries = value.arrayValue else { throw ConfigurationError(key: "directories", reason: "must be an array of objects") }
                config.directories = []
                for (index, entry) in entries.enumerated() {
                    config.directories.append(try parseDirectory(entry, key: "directories[\(index)]"))
                }
            },
        ]
    }

    /// Rules that involve more than one key, or a key's meaning rather than its form.
    func check() throws(ConfigurationError) {
        guard let url = URL(string: issuer), url.scheme == "https", let host = url.host, !host.isEmpty,
            url.query == nil, url.fragment == nil, !issuer.hasSuffix("/"), url.user == nil
        else {
            throw ConfigurationError(key: "issuer", reason: "must be an https URL with no query, fragment or trailing slash (RFC 8414 §2)")
        }
        if !allowNonLoopback && !Self.isLoopback(listenHost) {
            throw ConfigurationError(key: "listen", reason: "\(listenHost) is not a loopback address; set allow_non_loopback to true to expose fapid")
        }
        // A verifier may hold /jwks for its max-age; an instance sees a staged key within a refresh, which may run late by
        // its own reload; the database keeps whole seconds. So: max-age + two refreshes + one second.
        let shortestAhead = jwksMaxAgeSeconds + 2 * keyRefreshSeconds + 1
        guard keyPublishAheadSeconds >= shortestAhead else {
            throw ConfigurationError(
                key: "key_publish_ahead_seconds",
                reason:
                    "must be at least jwks_max_age_seconds + 2 x key_refresh_seconds + 1 (\(shortestAhead)), so verifiers caching /jwks see a key before it signs"
            )
        }
        guard cibaRequestMaxLifetimeSeconds >= cibaRequestLifetimeSeconds else {
            throw ConfigurationError(key: "ciba_request_max_lifetime_seconds", reason: "must be at least ciba_request_lifetime_seconds")
        }
    }

    static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    static func parseDirectory(_ value: JSON, key: String) throws(ConfigurationError) -> Directory {
        guard let object = value.objectValue else { throw ConfigurationError(key: key, reason: "must be an object") }
        let known: Set<String> = ["name", "issuer", "jwks_file", "jwks_uri", "ca_file", "roles", "require_exp"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigurationError(key: "\(key).\(unknown)", reason: "unknown key")
        }
        guard let name = object["name"]?.stringValue, !name.isEmpty else { throw ConfigurationError(key: "\(key).name", reason: "is required") }
        guard let ca = object["ca_file"]?.stringValue else { throw ConfigurationError(key: "\(key).ca_file", reason: "is required") }
        let file = object["jwks_file"]?.stringValue
        let uri = object["jwks_uri"]?.stringValue
        guard (file == nil) != (uri == nil) else { throw ConfigurationError(key: "\(key).jwks_file", reason: "give exactly one of jwks_file and jwks_uri") }
        if let uri, !uri.hasPrefix("https://") { throw ConfigurationError(key: "\(key).jwks_uri", reason: "must be https") }
        var roles = defaultRoles
        if let map = object["roles"] {
            guard let entries = map.objectValue else { throw ConfigurationError(key: "\(key).roles", reason: "must map roles to arrays of scopes") }
            roles = [:]
            for (role, scopes) in entries {
                guard let list = scopes.arrayValue?.compactMap(\.stringValue), list.count == scopes.arrayValue?.count else {
                    throw ConfigurationError(key: "\(key).roles.\(role)", reason: "must be an array of scopes")
                }
                roles[role] = list
            }
        }
        var directory = Directory(name: name, issuer: object["issuer"]?.stringValue, jwksFile: file, jwksURI: uri, caFile: ca, roles: roles)
        if let flag = object["require_exp"] {
            guard let value = flag.boolValue else { throw ConfigurationError(key: "\(key).require_exp", reason: "must be true or false") }
            directory.requireExpiry = value
        }
        return directory
    }

    static func parseListen(_ text: String) throws(ConfigurationError) -> (String, Int) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ConfigurationError(key: "listen", reason: "must be host:port or [ipv6]:port")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ConfigurationError(key: "listen", reason: "must be host:port or [ipv6]:port")
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let number = Int(port), (1...65_535).contains(number) else {
            throw ConfigurationError(key: "listen", reason: "must be host:port with a port from 1 to 65535")
        }
        return (String(host), number)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || (isIPAddress(host) && host.hasPrefix("127."))
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
