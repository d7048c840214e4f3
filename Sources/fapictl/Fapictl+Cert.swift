import ArgumentParser
import CertificateStatus
import FapidRuntime
import Foundation
import OpenSSLKit

struct Cert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Certificate tools.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a certificate's revocation status (OCSP, then CRL). Exit 0 good, 1 revoked, 2 unknown."
        )
        @OptionGroup var options: GlobalOptions
        @Argument(help: "PEM file: the certificate, optionally followed by its chain.") var file: String
        @Option(name: .long, help: "PEM file of the issuing CA (default: the next certificate in FILE, or the matching client_ca).")
        var issuer: String?

        func run() async throws {
            var code: Int32 = 2
            try await reporting { code = try await check() }
            if code != 0 { throw ExitCode(code) }
        }

        /// The exit status: 0 good, 1 revoked, 2 unknown. Not optimised: Swift 6.3.1's optimizer crashes
        /// splitting this coroutine in release builds.
        @_optimize(none)
        func check() async throws -> Int32 {
                let configuration = try options.load()
                let chain = try X509Certificate.parsePEM(try read(file))
                let leaf = chain[0]
                var candidates = try issuer.map { try X509Certificate.parsePEM(try read($0)) } ?? Array(chain.dropFirst())
                if let anchors = try? read(configuration.clientCA), let parsed = try? X509Certificate.parsePEM(anchors) { candidates += parsed }
                guard let issuerCertificate = candidates.first(where: { $0.subjectDN == leaf.issuerDN }) else {
                    throw Failure(message: "issuer \(leaf.issuerDN) not found; pass --issuer")
                }
                let trust = try CertificateTrustStore(anchors: candidates)
                let fetcher = OutboundHTTPClient(extraRootsFile: configuration.outboundCA, timeoutSeconds: Int64(configuration.ocspTimeoutSeconds))
                var settings = CertificateStatusChecker.Settings()
                settings.ocspResponder = configuration.ocspResponder
                settings.maximumOCSPAge = TimeInterval(configuration.ocspMaxAgeSeconds ?? configuration.certificateStatusCacheSeconds)
                settings.requireOCSPNonce = configuration.ocspRequireNonce
                let checker = CertificateStatusChecker(fetcher: fetcher, trustStore: trust, settings: settings)
                let outcome = await checker.fetchStatus(leaf: leaf, issuer: issuerCertificate)
                await fetcher.shutdown()
                switch outcome {
                case .known(.good, .noPointers):
                    print("unknown: \(StatusSource.noPointers)")
                    return 2
                case .known(.good, let source):
                    print("good (\(TerminalText.safe("\(source)")))")
                    return 0
                case .known(let revoked, let source):
                    // The responder URL and reasons come from the TPP's certificate and the answers: never raw to the terminal.
                    print(TerminalText.safe("\(revoked) (\(source))"))
                    return 1
                case .unknown(let failures):
                    print("unknown: " + TerminalText.safe(failures.joined(separator: "; ")))
                    return 2
                }
        }

        func read(_ path: String) throws -> String {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure(message: "cannot read \(path)") }
            return text
        }
    }
}
