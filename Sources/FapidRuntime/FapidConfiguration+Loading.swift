public import Foundation
import JOSE

extension FapidConfiguration {
    /// Every file key can also be set as `FAPID_<KEY IN UPPER SNAKE CASE>` (`listen` as `FAPID_LISTEN`, `keys_dir` as
    /// `FAPID_KEYS_DIR`); arrays and objects are given as JSON text.
    static var environmentKeys: [(variable: String, key: String)] {
        fileKeys.sorted().map { ("FAPID_" + $0.uppercased(), $0) }
    }

    static let fileKeys: Set<String> = [
        "listen", "allow_non_loopback", "issuer", "database", "storage", "database_url", "database_max_connections", "database_timeout_seconds", "admin_socket", "keys_dir",
        "key_encryption_key_file", "migrations_dir", "log_level", "admin_socket_group",
        "tls_certificate", "tls_private_key", "client_ca", "trusted_proxies", "key_refresh_seconds", "retired_key_publish_seconds",
        "access_token_lifetime", "outbound_ca", "certificate_status", "certificate_status_soft_fail_anchors",
        "certificate_status_require_pointers", "ocsp_responder", "ocsp_timeout_seconds", "certificate_status_cache_seconds",
        "certificate_status_skew_seconds", "certificate_status_refresh_seconds", "directories", "require_pushed_authorization_requests",
        "log_format", "metrics_listen", "audit_checkpoint_seconds", "rate_limit_client_per_second", "rate_limit_client_burst",
        "rate_limit_address_per_second", "rate_limit_address_burst", "rate_limit_authorize_per_second", "rate_limit_authorize_burst",
        "rate_limit_sign_in_per_second", "rate_limit_sign_in_burst", "idle_timeout_seconds", "request_timeout_seconds", "max_header_bytes",
        "max_body_bytes", "outbound_allow_private_networks", "client_assertion_max_lifetime_seconds", "pushed_request_lifetime_seconds",
        "trusted_proxy_certificates", "software_statement_max_age_seconds",
        "ocsp_max_age_seconds", "ocsp_require_nonce", "ocsp_require_nonce_anchors",
    ]

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
        return try resolve(values)
    }

    static func resolve(_ values: [String: JSON]) throws(ConfigurationError) -> FapidConfiguration {
        func string(_ key: String) throws(ConfigurationError) -> String? {
            guard let value = values[key] else { return nil }
            guard let text = value.stringValue, !text.isEmpty else { throw ConfigurationError(key: key, reason: "must be a non-empty string") }
            return text
        }
        func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let value = values[key] else { return nil }
            // Environment variables arrive as text.
            guard let number = value.int64Value ?? value.stringValue.flatMap({ Int64($0) }), range.contains(Int(number)) else {
                throw ConfigurationError(key: key, reason: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return Int(number)
        }

        var config = FapidConfiguration.defaults
        if let listen = try string("listen") {
            (config.listenHost, config.listenPort) = try parseListen(listen)
        }
        if let value = values["allow_non_loopback"] {
            guard let flag = value.boolValue else { throw ConfigurationError(key: "allow_non_loopback", reason: "must be true or false") }
            config.allowNonLoopback = flag
        }
        if let issuer = try string("issuer") { config.issuer = issuer }
        if let storage = try string("storage") {
            guard storage == "sqlite" || storage == "postgres" else { throw ConfigurationError(key: "storage", reason: "must be sqlite or postgres") }
            config.storage = storage
        }
        if let url = try string("database_url") {
            guard isPostgresURL(url) else { throw ConfigurationError(key: "database_url", reason: "must be a postgres:// URL") }
            config.databaseURL = url
        }
        if let database = try string("database") {
            // `database` (FAPID_DATABASE) takes a SQLite path, or a postgres:// URL: the same as storage postgres + database_url.
            if isPostgresURL(database) {
                if values["storage"] != nil && config.storage != "postgres" {
                    throw ConfigurationError(key: "database", reason: "a postgres:// URL needs storage postgres (or no storage key)")
                }
                config.storage = "postgres"
                config.databaseURL = database
            } else {
                config.database = database
            }
        }
        if config.storage == "postgres", config.databaseURL == nil {
            throw ConfigurationError(key: "database_url", reason: "storage postgres needs database_url")
        }
        config.databaseMaxConnections = try integer("database_max_connections", in: 1...1000) ?? config.databaseMaxConnections
        config.databaseTimeoutSeconds = try integer("database_timeout_seconds", in: 1...300) ?? config.databaseTimeoutSeconds
        if let socket = try string("admin_socket") { config.adminSocket = socket }
        if let group = try string("admin_socket_group") {
            // A group name as useradd(8) allows it; whether it exists is checked when the socket is created.
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-".unicodeScalars)
            guard group.utf8.count <= 32, group.unicodeScalars.allSatisfy(allowed.contains), group.first != "-"
            else { throw ConfigurationError(key: "admin_socket_group", reason: "must be a Unix group name") }
            config.adminSocketGroup = group
        }
        if let keys = try string("keys_dir") { config.keysDirectory = keys }
        config.keyEncryptionKeyFile = try string("key_encryption_key_file")
        if let migrations = try string("migrations_dir") { config.migrationsDirectory = migrations }
        if let level = try string("log_level") { config.logLevel = level.lowercased() }
        config.tlsCertificate = try string("tls_certificate") ?? config.keyPath("server.pem")
        config.tlsPrivateKey = try string("tls_private_key") ?? config.keyPath("server.key")
        config.clientCA = try string("client_ca") ?? config.keyPath("ca.pem")
        config.outboundCA = try string("outbound_ca") ?? config.keyPath("ca.pem")
        if let proxies = values["trusted_proxies"] {
            guard let list = proxies.arrayValue?.compactMap(\.stringValue), list.count == proxies.arrayValue?.count else {
                throw ConfigurationError(key: "trusted_proxies", reason: "must be an array of IP addresses")
            }
            for address in list where !isIPAddress(address) {
                throw ConfigurationError(key: "trusted_proxies", reason: "\(address) is not an IP address")
            }
            config.trustedProxies = list
        }
        if let pins = values["trusted_proxy_certificates"] {
            // x5t#S256: 43 base64url characters.
            guard let list = pins.arrayValue?.compactMap(\.stringValue), list.count == pins.arrayValue?.count,
                list.allSatisfy({ $0.count == 43 && (try? Base64URL.decode($0))?.count == 32 })
            else {
                throw ConfigurationError(key: "trusted_proxy_certificates", reason: "must be an array of x5t#S256 thumbprints (base64url SHA-256)")
            }
            config.trustedProxyCertificates = list
        }
        config.softwareStatementMaxAgeSeconds =
            try integer("software_statement_max_age_seconds", in: 60...31_536_000) ?? config.softwareStatementMaxAgeSeconds
        config.keyRefreshSeconds = try integer("key_refresh_seconds", in: 1...86_400) ?? config.keyRefreshSeconds
        config.retiredKeyPublishSeconds = try integer("retired_key_publish_seconds", in: 0...31_536_000) ?? config.retiredKeyPublishSeconds
        config.accessTokenLifetime = try integer("access_token_lifetime", in: 1...86_400) ?? config.accessTokenLifetime
        if let mode = try string("certificate_status") {
            guard mode == "fail_closed" || mode == "soft_fail" else {
                throw ConfigurationError(key: "certificate_status", reason: "must be fail_closed or soft_fail")
            }
            config.certificateStatusMode = mode
        }
        if let anchors = values["certificate_status_soft_fail_anchors"] {
            guard let list = anchors.arrayValue?.compactMap(\.stringValue), list.count == anchors.arrayValue?.count else {
                throw ConfigurationError(key: "certificate_status_soft_fail_anchors", reason: "must be an array of PEM file paths")
            }
            config.certificateStatusSoftFailAnchors = list
        }
        if let value = values["certificate_status_require_pointers"] {
            guard let flag = value.boolValue else {
                throw ConfigurationError(key: "certificate_status_require_pointers", reason: "must be true or false")
            }
            config.certificateStatusRequirePointers = flag
        }
        if let responder = try string("ocsp_responder") {
            guard responder.hasPrefix("http://") || responder.hasPrefix("https://") else {
                throw ConfigurationError(key: "ocsp_responder", reason: "must be an http or https URL")
            }
            config.ocspResponder = responder
        }
        config.ocspTimeoutSeconds = try integer("ocsp_timeout_seconds", in: 1...60) ?? config.ocspTimeoutSeconds
        config.certificateStatusCacheSeconds = try integer("certificate_status_cache_seconds", in: 1...604_800) ?? config.certificateStatusCacheSeconds
        config.certificateStatusSkewSeconds = try integer("certificate_status_skew_seconds", in: 0...3600) ?? config.certificateStatusSkewSeconds
        config.certificateStatusRefreshSeconds =
            try integer("certificate_status_refresh_seconds", in: 1...3600) ?? config.certificateStatusRefreshSeconds
        config.ocspMaxAgeSeconds = try integer("ocsp_max_age_seconds", in: 1...604_800) ?? config.ocspMaxAgeSeconds
        if let value = values["ocsp_require_nonce"] {
            guard let flag = value.boolValue else { throw ConfigurationError(key: "ocsp_require_nonce", reason: "must be true or false") }
            config.ocspRequireNonce = flag
        }
        if let anchors = values["ocsp_require_nonce_anchors"] {
            guard let list = anchors.arrayValue?.compactMap(\.stringValue), list.count == anchors.arrayValue?.count else {
                throw ConfigurationError(key: "ocsp_require_nonce_anchors", reason: "must be an array of PEM file paths")
            }
            config.ocspRequireNonceAnchors = list
        }
        if let value = values["require_pushed_authorization_requests"] {
            guard let flag = value.boolValue else {
                throw ConfigurationError(key: "require_pushed_authorization_requests", reason: "must be true or false")
            }
            config.requirePushedAuthorizationRequests = flag
        }
        if let format = try string("log_format") {
            guard format == "text" || format == "json" else { throw ConfigurationError(key: "log_format", reason: "must be text or json") }
            config.logFormat = format
        }
        if let metrics = try string("metrics_listen") {
            if metrics != "main" && metrics != "off" {
                let (host, _) = try parseListen(metrics)
                if !(values["allow_non_loopback"]?.boolValue ?? false) && !isLoopback(host) {
                    throw ConfigurationError(key: "metrics_listen", reason: "\(host) is not a loopback address; set allow_non_loopback to true")
                }
            }
            config.metricsListen = metrics
        }
        config.auditCheckpointSeconds = try integer("audit_checkpoint_seconds", in: 1...86_400) ?? config.auditCheckpointSeconds
        config.rateLimitClientPerSecond = try integer("rate_limit_client_per_second", in: 0...1_000_000) ?? config.rateLimitClientPerSecond
        config.rateLimitClientBurst = try integer("rate_limit_client_burst", in: 1...1_000_000) ?? config.rateLimitClientBurst
        config.rateLimitAddressPerSecond = try integer("rate_limit_address_per_second", in: 0...1_000_000) ?? config.rateLimitAddressPerSecond
        config.rateLimitAddressBurst = try integer("rate_limit_address_burst", in: 1...1_000_000) ?? config.rateLimitAddressBurst
        config.rateLimitAuthorizePerSecond =
            try integer("rate_limit_authorize_per_second", in: 0...1_000_000) ?? config.rateLimitAuthorizePerSecond
        config.rateLimitAuthorizeBurst = try integer("rate_limit_authorize_burst", in: 1...1_000_000) ?? config.rateLimitAuthorizeBurst
        config.rateLimitSignInPerSecond = try integer("rate_limit_sign_in_per_second", in: 0...1_000_000) ?? config.rateLimitSignInPerSecond
        config.rateLimitSignInBurst = try integer("rate_limit_sign_in_burst", in: 1...1_000_000) ?? config.rateLimitSignInBurst
        config.idleTimeoutSeconds = try integer("idle_timeout_seconds", in: 1...3600) ?? config.idleTimeoutSeconds
        config.requestTimeoutSeconds = try integer("request_timeout_seconds", in: 1...600) ?? config.requestTimeoutSeconds
        config.maxHeaderBytes = try integer("max_header_bytes", in: 1024...1_048_576) ?? config.maxHeaderBytes
        config.maxBodyBytes = try integer("max_body_bytes", in: 1024...16_777_216) ?? config.maxBodyBytes
        config.clientAssertionMaxLifetimeSeconds =
            try integer("client_assertion_max_lifetime_seconds", in: 1...86_400) ?? config.clientAssertionMaxLifetimeSeconds
        config.pushedRequestLifetimeSeconds = try integer("pushed_request_lifetime_seconds", in: 5...600) ?? config.pushedRequestLifetimeSeconds
        if let value = values["outbound_allow_private_networks"] {
            // From the environment the flag arrives as text.
            guard let flag = value.boolValue ?? (value.stringValue == "true" ? true : value.stringValue == "false" ? false : nil) else {
                throw ConfigurationError(key: "outbound_allow_private_networks", reason: "must be true or false")
            }
            config.outboundAllowPrivateNetworks = flag
        }
        if let list = values["directories"] {
            guard let entries = list.arrayValue else { throw ConfigurationError(key: "directories", reason: "must be an array of objects") }
            config.directories = []
            for (index, entry) in entries.enumerated() {
                config.directories.append(try parseDirectory(entry, key: "directories[\(index)]"))
            }
        } else {
            config.directories = [
                Directory(
                    name: "development", issuer: nil, jwksFile: config.keyPath("directory.jwks.json"), jwksURI: nil, caFile: config.keyPath("ca.pem"),
                    roles: defaultRoles)
            ]
        }
        try config.check()
        return config
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
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard levels.contains(logLevel) else {
            throw ConfigurationError(key: "log_level", reason: "must be one of \(levels.joined(separator: ", "))")
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
