import FapidRuntime
import Foundation
import Logging
import TestSupport
import Testing

@Suite("FapidConfiguration")
struct FapidConfigurationTests {
    func load(file: String? = nil, _ environment: [String: String] = [:]) throws(ConfigurationError) -> FapidConfiguration {
        try FapidConfiguration.load(file: file, environment: environment)
    }

    func error(file: String? = nil, _ environment: [String: String] = [:]) -> ConfigurationError? {
        do {
            _ = try load(file: file, environment)
            return nil
        } catch {
            return error
        }
    }

    func writeFile(_ json: String) throws -> (String, TestPKI) {
        let directory = try TestPKI(name: "config")
        try json.write(toFile: directory.path("fapid.json"), atomically: true, encoding: .utf8)
        return (directory.path("fapid.json"), directory)
    }

    @Test("defaults match the interface contract")
    func defaults() throws {
        let config = try load()
        #expect(config.listen == "127.0.0.1:8443")
        #expect(config.issuer == "https://localhost:8443")
        #expect(config.database == "var/fapid.sqlite")
        #expect(config.adminSocket == "var/fapid.sock")
        #expect(config.tlsCertificate == "keys/dev/server.pem")
        #expect(config.clientCA == "keys/dev/ca.pem")
        #expect(config.logLevel == .info)
    }

    @Test("the file overrides defaults and the environment overrides the file")
    func precedence() throws {
        let (path, keep) = try writeFile(#"{"listen": "127.0.0.1:9000", "issuer": "https://as.example", "log_level": "debug", "keys_dir": "/srv/keys"}"#)
        _ = keep
        let fromFile = try load(file: path)
        #expect(fromFile.listen == "127.0.0.1:9000")
        #expect(fromFile.issuer == "https://as.example")
        #expect(fromFile.tlsCertificate == "/srv/keys/server.pem")
        let both = try load(file: path, ["FAPID_LISTEN": "[::1]:9443", "FAPID_LOG_LEVEL": "warning", "FAPID_KEYS_DIR": "/other"])
        #expect(both.listen == "[::1]:9443")
        #expect(both.logLevel == .warning)
        #expect(both.issuer == "https://as.example")
        #expect(both.clientCA == "/other/ca.pem")
    }

    @Test("bad values name their key", arguments: [
        (["FAPID_LISTEN": "localhost"], "listen"),
        (["FAPID_LISTEN": "127.0.0.1:70000"], "listen"),
        (["FAPID_ISSUER": "http://localhost:8443"], "issuer"),
        (["FAPID_ISSUER": "https://localhost:8443/"], "issuer"),
        (["FAPID_ISSUER": "https://localhost:8443?x=1"], "issuer"),
        (["FAPID_LOG_LEVEL": "loud"], "log_level"),
        (["FAPID_DATABASE": "postgres://u:p@localhost/fapid", "FAPID_STORAGE": "sqlite"], "database"),
        (["FAPID_CLIENT_ASSERTION_MAX_LIFETIME_SECONDS": "0"], "client_assertion_max_lifetime_seconds"),
        (["FAPID_PUSHED_REQUEST_LIFETIME_SECONDS": "601"], "pushed_request_lifetime_seconds"),
        (["FAPID_ALLOW_NON_LOOPBACK": "maybe"], "allow_non_loopback"),
        (["FAPID_DATABASE": ""], "database"),
    ])
    func badValues(environment: [String: String], key: String) {
        #expect(error(environment)?.key == key)
    }

    @Test("FAPID_DATABASE takes a postgres:// URL as the contract says: the same as storage postgres + database_url")
    func postgresURL() throws {
        let url = "postgres://fapid:secret@db.example:5432/fapid"
        let config = try load(["FAPID_DATABASE": url])
        #expect(config.storage == .postgres)
        #expect(config.databaseURL == url)
        let explicit = try load(["FAPID_DATABASE": url, "FAPID_STORAGE": "postgres"])
        #expect(explicit.databaseURL == url)
        #expect(try load(["FAPID_DATABASE": "/var/lib/fapid.sqlite"]).storage == .sqlite)
    }

    @Test("every file key is also an environment variable; arrays as JSON text, flags as true or false")
    func everySettingFromTheEnvironment() throws {
        let config = try load([
            "FAPID_CLIENT_ASSERTION_MAX_LIFETIME_SECONDS": "600", "FAPID_PUSHED_REQUEST_LIFETIME_SECONDS": "5",
            "FAPID_TRUSTED_PROXIES": #"["10.0.0.5"]"#, "FAPID_ALLOW_NON_LOOPBACK": "true", "FAPID_LISTEN": "0.0.0.0:8443",
            "FAPID_MAX_BODY_BYTES": "2048",
        ])
        #expect(config.clientAssertionMaxLifetimeSeconds == 600)
        #expect(config.pushedRequestLifetimeSeconds == 5)
        #expect(config.trustedProxies == ["10.0.0.5"])
        #expect(config.listenHost == "0.0.0.0")
        #expect(config.maxBodyBytes == 2048)
        let defaults = try load()
        #expect(defaults.clientAssertionMaxLifetimeSeconds == 3600)
        #expect(defaults.pushedRequestLifetimeSeconds == 90)
    }

    @Test("protocol lifetimes: today's constants by default, set from the file or environment, out of range refused")
    func protocolLifetimes() throws {
        let defaults = try load()
        #expect(defaults.authorizationCodeLifetimeSeconds == 60)
        #expect(defaults.idTokenLifetimeSeconds == 300)
        #expect(defaults.refreshTokenLifetimeSeconds == 90 * 86_400)
        #expect(defaults.jarmResponseLifetimeSeconds == 300)
        #expect(defaults.cibaRequestLifetimeSeconds == 300)
        #expect(defaults.cibaRequestMaxLifetimeSeconds == 600)
        #expect(defaults.cibaPollIntervalSeconds == 5)
        #expect(defaults.cibaNotificationLeaseSeconds == 30)
        #expect(defaults.psuInteractionLifetimeSeconds == 600)
        #expect(defaults.psuSessionLifetimeSeconds == 900)
        #expect(defaults.psuInteractionsPerRequestURI == 10)
        let (path, keep) = try writeFile(
            #"{"authorization_code_lifetime_seconds": 30, "id_token_lifetime_seconds": 600, "ciba_request_lifetime_seconds": 120}"#)
        _ = keep
        let set = try load(file: path, [
            "FAPID_REFRESH_TOKEN_LIFETIME_SECONDS": "86400", "FAPID_JARM_RESPONSE_LIFETIME_SECONDS": "60",
            "FAPID_CIBA_REQUEST_MAX_LIFETIME_SECONDS": "900", "FAPID_CIBA_POLL_INTERVAL_SECONDS": "10",
            "FAPID_CIBA_NOTIFICATION_LEASE_SECONDS": "60", "FAPID_PSU_INTERACTION_LIFETIME_SECONDS": "300",
            "FAPID_PSU_SESSION_LIFETIME_SECONDS": "3600", "FAPID_PSU_INTERACTIONS_PER_REQUEST_URI": "3",
        ])
        #expect(set.authorizationCodeLifetimeSeconds == 30)
        #expect(set.idTokenLifetimeSeconds == 600)
        #expect(set.cibaRequestLifetimeSeconds == 120)
        #expect(set.refreshTokenLifetimeSeconds == 86_400)
        #expect(set.jarmResponseLifetimeSeconds == 60)
        #expect(set.cibaRequestMaxLifetimeSeconds == 900)
        #expect(set.cibaPollIntervalSeconds == 10)
        #expect(set.cibaNotificationLeaseSeconds == 60)
        #expect(set.psuInteractionLifetimeSeconds == 300)
        #expect(set.psuSessionLifetimeSeconds == 3600)
        #expect(set.psuInteractionsPerRequestURI == 3)
        // FAPI 2 SP §5.3.1.1-12: codes live at most 60 s.
        #expect(error(["FAPID_AUTHORIZATION_CODE_LIFETIME_SECONDS": "61"])?.key == "authorization_code_lifetime_seconds")
        for key in [
            "id_token_lifetime_seconds", "refresh_token_lifetime_seconds", "jarm_response_lifetime_seconds", "ciba_request_lifetime_seconds",
            "ciba_request_max_lifetime_seconds", "ciba_poll_interval_seconds", "ciba_notification_lease_seconds",
            "psu_interaction_lifetime_seconds", "psu_session_lifetime_seconds", "psu_interactions_per_request_uri",
        ] {
            #expect(error(["FAPID_" + key.uppercased(): "0"])?.key == key)
        }
        // A default expiry longer than the longest honoured one cannot be given.
        #expect(error(["FAPID_CIBA_REQUEST_LIFETIME_SECONDS": "700"])?.key == "ciba_request_max_lifetime_seconds")
    }

    @Test("key_publish_ahead_seconds: by default longer than the /jwks max-age plus two refreshes; shorter is refused")
    func publishAhead() throws {
        let defaults = try load()
        #expect(defaults.keyPublishAheadSeconds == 900 && defaults.jwksMaxAgeSeconds == 300 && defaults.keyRefreshSeconds == 30)
        #expect(defaults.keyPublishAheadSeconds > defaults.jwksMaxAgeSeconds + defaults.keyRefreshSeconds)
        let small = ["FAPID_JWKS_MAX_AGE_SECONDS": "2", "FAPID_KEY_REFRESH_SECONDS": "1"]
        #expect(try load(small.merging(["FAPID_KEY_PUBLISH_AHEAD_SECONDS": "5"]) { $1 }).keyPublishAheadSeconds == 5)
        let refused = error(small.merging(["FAPID_KEY_PUBLISH_AHEAD_SECONDS": "4"]) { $1 })
        #expect(refused?.key == "key_publish_ahead_seconds")
        #expect(refused?.reason.contains("jwks_max_age_seconds + 2 x key_refresh_seconds + 1 (5)") == true)
        // Raising the max-age alone makes the default publish-ahead too short, and says so.
        #expect(error(["FAPID_JWKS_MAX_AGE_SECONDS": "900"])?.key == "key_publish_ahead_seconds")
    }

    @Test("the PIN file: its first line without LF or CRLF, refused unless 0600; read only when a token key needs it")
    func pinFile() throws {
        let (path, keep) = try writeFile("123456\r\nignored\n")
        defer { withExtendedLifetime(keep) {} }
        chmod(path, 0o600)
        #expect(try load(["FAPID_PKCS11_PIN_FILE": path]).pkcs11PIN() == "123456")
        #expect(try load(["FAPID_PKCS11_PIN_FILE": path, "FAPID_PKCS11_PIN": "654321"]).pkcs11PIN() == "654321")
        chmod(path, 0o644)
        #expect(throws: PrivateKeyFile.Failure.self) { try load(["FAPID_PKCS11_PIN_FILE": path]).pkcs11PIN() }
        // A manager over a configuration whose PIN file cannot be read is made all the same (fapictl users add needs no PIN).
        let unreadable = try load(["FAPID_PKCS11_PIN_FILE": "/nonexistent/pin", "FAPID_PKCS11_MODULE": "/nonexistent/module.so"])
        #expect(throws: Never.self) { try SigningKeyManager(configuration: unreadable, store: Storage.memory().signingKeys) }
    }

    @Test("a non-loopback address is refused unless allowed explicitly")
    func loopbackOnly() throws {
        #expect(error(["FAPID_LISTEN": "0.0.0.0:8443"])?.key == "listen")
        #expect(error(["FAPID_LISTEN": "192.0.2.10:8443"])?.key == "listen")
        let (path, keep) = try writeFile(#"{"allow_non_loopback": true}"#)
        _ = keep
        #expect(try load(file: path, ["FAPID_LISTEN": "0.0.0.0:8443"]).listenHost == "0.0.0.0")
        #expect(try load(["FAPID_LISTEN": "localhost:8443"]).listenHost == "localhost")
    }

    @Test("unknown keys, wrong types and unreadable files are reported")
    func fileProblems() throws {
        let (typo, keep1) = try writeFile(#"{"listne": "127.0.0.1:1"}"#)
        #expect(error(file: typo)?.key == "listne")
        let (wrongType, keep2) = try writeFile(#"{"allow_non_loopback": "yes", "listen": "127.0.0.1:1"}"#)
        #expect(error(file: wrongType)?.key == "allow_non_loopback")
        let (proxies, keep3) = try writeFile(#"{"trusted_proxies": ["10.0.0.1", "not-an-ip"]}"#)
        #expect(error(file: proxies)?.key == "trusted_proxies")
        let (notJSON, keep4) = try writeFile("listen = 1")
        #expect(error(file: notJSON)?.key == "--config")
        #expect(error(file: "/nonexistent/fapid.json")?.key == "--config")
        _ = (keep1, keep2, keep3, keep4)
    }
}
