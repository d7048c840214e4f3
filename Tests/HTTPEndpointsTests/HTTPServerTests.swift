import AuthorizationServer
import Foundation
import HTTPEndpoints
import Hummingbird
import OpenSSLKit
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// Runs the real HTTPS application on a loopback port and drives it with curl, a client we did not write.
@Suite("HTTP server over real TLS", .serialized)
struct HTTPServerTests {
    /// A test PKI with a server certificate, a CA-issued client certificate, a self-signed one,
    /// and one from a CA the server does not trust.
    static func makePKI() throws -> TestPKI {
        let pki = try TestPKI(name: "http")
        try pki.makeCA("ca")
        try pki.makeCA("rogue-ca")
        try pki.issue("server", subject: "/CN=localhost", by: "ca", extensions: ["subjectAltName=DNS:localhost,IP:127.0.0.1"])
        try pki.issue("tpp", subject: "/C=GB/O=Example TPP/CN=tpp-one", by: "ca")
        try pki.issue("rogue", subject: "/CN=rogue", by: "rogue-ca")
        try pki.selfSigned("self", subject: "/CN=self-signed-client", key: "ec")
        return pki
    }

    /// Starts the server, runs `body` with its port, then shuts it down.
    static func withServer(
        pki: TestPKI,
        trustedProxies: [String] = [],
        _ body: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        let keyRing = KeyRing()
        let server = try FapidHTTPServer(
            settings: .init(
                host: "127.0.0.1",
                port: 0,
                tls: TLSSettings(certificateChainPath: pki.path("server.pem"), privateKeyPath: pki.path("server.key")),
                clientCAPath: pki.path("ca.pem"),
                trustedProxies: trustedProxies
            ),
            metadata: ServerMetadata(issuer: "https://localhost:8443"),
            keyRing: keyRing,
            clock: SystemClock()
        )
        let port = Mutex<Int?>(nil)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let app = try server.makeApplication(
            logger: logger,
            configureRoutes: { router, endpoints in
                // What a handler sees of the client certificate.
                router.get("/test/peer") { request, context -> Response in
                    guard let certificate = await endpoints.clientCertificate(request, context: context) else {
                        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "none")))
                    }
                    let trust = certificate.isChainVerified ? "verified" : "unverified"
                    let text = "\(trust) \(certificate.source.rawValue) \(certificate.thumbprint) \(certificate.certificate.subjectDN)"
                    return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: text)))
                }
                router.get("/test/header") { request, _ -> Response in
                    let seen = request.headers[ClientCertificateSource.clientCertHeader] ?? "absent"
                    return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: seen)))
                }
            },
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } }
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            var bound: Int?
            for _ in 0..<500 where bound == nil {
                try await Task.sleep(for: .milliseconds(10))
                bound = port.withLock { $0 }
            }
            defer { group.cancelAll() }
            try await body(try #require(bound))
        }
    }

    static func curl(_ pki: TestPKI, _ port: Int, _ path: String, cert: String? = nil, headers: [String] = [], extra: [String] = []) throws -> String {
        var arguments = ["curl", "-sS", "--max-time", "10", "--cacert", pki.path("ca.pem")]
        if let cert { arguments += ["--cert", pki.path("\(cert).pem"), "--key", pki.path("\(cert).key")] }
        for header in headers { arguments += ["-H", header] }
        return try Shell.run(arguments + extra + ["https://localhost:\(port)\(path)"])
    }

    static func thumbprint(_ pki: TestPKI, _ name: String) throws -> String {
        try X509Certificate.parsePEM(try pki.read("\(name).pem"))[0].sha256Thumbprint
    }

    @Test("the handler receives the CA-issued client certificate curl presented, chain-verified")
    func caIssuedCertificate() async throws {
        let pki = try Self.makePKI()
        let expected = try Self.thumbprint(pki, "tpp")
        try await Self.withServer(pki: pki) { port in
            let seen = try Self.curl(pki, port, "/test/peer", cert: "tpp")
            #expect(seen == "verified tls \(expected) CN=tpp-one,O=Example TPP,C=GB")
        }
    }

    @Test("a client without a certificate is served; self-signed and foreign-CA certificates arrive unverified")
    func otherClients() async throws {
        let pki = try Self.makePKI()
        let selfSigned = try Self.thumbprint(pki, "self")
        let rogue = try Self.thumbprint(pki, "rogue")
        try await Self.withServer(pki: pki) { port in
            let seen1 = try Self.curl(pki, port, "/test/peer")
            #expect(seen1 == "none")
            let seen2 = try Self.curl(pki, port, "/test/peer", cert: "self")
            #expect(seen2 == "unverified tls \(selfSigned) CN=self-signed-client")
            let seen3 = try Self.curl(pki, port, "/test/peer", cert: "rogue")
            #expect(seen3 == "unverified tls \(rogue) CN=rogue")
        }
    }

    @Test("Client-Cert from an untrusted peer is stripped and ignored")
    func untrustedProxyHeader() async throws {
        let pki = try Self.makePKI()
        let der = try X509Certificate.parsePEM(try pki.read("tpp.pem"))[0].der
        let header = "Client-Cert: :\(Base64URL.encodeStandard(der)):"
        try await Self.withServer(pki: pki) { port in
            let seen4 = try Self.curl(pki, port, "/test/peer", headers: [header])
            #expect(seen4 == "none")
            let seen5 = try Self.curl(pki, port, "/test/header", headers: [header])
            #expect(seen5 == "absent")
        }
    }

    @Test("Client-Cert from a trusted proxy is honoured (RFC 9440), and only a well-formed one")
    func trustedProxyHeader() async throws {
        let pki = try Self.makePKI()
        let der = try X509Certificate.parsePEM(try pki.read("tpp.pem"))[0].der
        let expected = try Self.thumbprint(pki, "tpp")
        try await Self.withServer(pki: pki, trustedProxies: ["127.0.0.1"]) { port in
            let seen = try Self.curl(pki, port, "/test/peer", headers: ["Client-Cert: :\(Base64URL.encodeStandard(der)):"])
            #expect(seen == "verified proxyHeader \(expected) CN=tpp-one,O=Example TPP,C=GB")
            let seen6 = try Self.curl(pki, port, "/test/peer", headers: ["Client-Cert: \(Base64URL.encodeStandard(der))"])
            #expect(seen6 == "none")
            let seen7 = try Self.curl(pki, port, "/test/peer", headers: ["Client-Cert: :AAAA:"])
            #expect(seen7 == "none")
        }
    }

    @Test("x-fapi-interaction-id is echoed when valid and generated otherwise, on 404s too")
    func interactionID() async throws {
        let pki = try Self.makePKI()
        try await Self.withServer(pki: pki) { port in
            let sent = "6f0b4f1e-5d36-4d3c-9f59-0b1a6f5b2a11"
            func header(_ path: String, _ headers: [String]) throws -> String? {
                let out = try Self.curl(pki, port, path, headers: headers, extra: ["-o", "/dev/null", "-D", "-"])
                return out.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-fapi-interaction-id:") }
                    .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) }
            }
            let seen8 = try header("/healthz", ["x-fapi-interaction-id: \(sent)"])
            #expect(seen8 == sent)
            let seen9 = try header("/no-such-path", ["x-fapi-interaction-id: \(sent)"])
            #expect(seen9 == sent)
            let generatedHeader = try header("/healthz", ["x-fapi-interaction-id: not-a-uuid"])
            let generated = try #require(generatedHeader)
            #expect(UUID(uuidString: generated) != nil && generated != sent)
            let jwksHeader = try header("/jwks", [])
            #expect(jwksHeader.flatMap { UUID(uuidString: $0) } != nil)
        }
    }

    @Test("TLS 1.1 and non-FAPI TLS 1.2 suites are refused; the FAPI suites and TLS 1.3 are accepted")
    func tlsPolicy() async throws {
        let pki = try Self.makePKI()
        try await Self.withServer(pki: pki) { port in
            func handshake(_ arguments: [String]) -> Bool {
                (try? Shell.run(["sh", "-c", "echo | openssl s_client -connect 127.0.0.1:\(port) \(arguments.joined(separator: " ")) 2>&1 | grep -q 'Cipher is [A-Z]'"])) != nil
            }
            #expect(!handshake(["-tls1_1"]))
            #expect(!handshake(["-tls1"]))
            #expect(!handshake(["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"]))
            #expect(!handshake(["-tls1_2", "-cipher", "AES128-GCM-SHA256"]))
            #expect(!handshake(["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"]))
            #expect(handshake(["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]))
            #expect(handshake(["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"]))
            #expect(handshake(["-tls1_3"]))
        }
    }
}
