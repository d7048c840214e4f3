import CertificateStatus
import Foundation
import OpenSSLKit
import Synchronization
import TestSupport
import Testing

/// RFC 5280 §6.3: every certificate of the path but the trust anchor is checked, not only the leaf.
@Suite("Chain status", .serialized)
struct ChainStatusTests {
    static let rootCRL = "http://127.0.0.1:9/root.crl"
    static let intermediateCRL = "http://127.0.0.1:9/intermediate.crl"

    /// root → intermediate (CRL at root.crl) → leaf (CRL at intermediate.crl), each CA run by `openssl ca`.
    struct Hierarchy {
        let root: TestPKI
        let intermediatePKI: TestPKI
        let rootCA: X509Certificate
        let intermediate: X509Certificate
        let leaf: X509Certificate
        let store: CertificateTrustStore

        init(revokeIntermediate: Bool) throws {
            root = try TestPKI(name: "chain-root")
            try root.makeStatefulCA(leafExtensions: [
                "basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign",
                "crlDistributionPoints = URI:\(ChainStatusTests.rootCRL)",
            ])
            try root.issueWithCA("intermediate")
            intermediatePKI = try TestPKI(name: "chain-intermediate")
            try intermediatePKI.makeStatefulCA(leafExtensions: [
                "basicConstraints = CA:FALSE", "keyUsage = critical, digitalSignature", "extendedKeyUsage = clientAuth",
                "crlDistributionPoints = URI:\(ChainStatusTests.intermediateCRL)",
            ])
            // The intermediate CA runs with the root-issued certificate and key instead of its own self-signed one.
            for suffix in ["pem", "key"] {
                try FileManager.default.removeItem(atPath: intermediatePKI.path("ca.\(suffix)"))
                try FileManager.default.copyItem(atPath: root.path("intermediate.\(suffix)"), toPath: intermediatePKI.path("ca.\(suffix)"))
            }
            try intermediatePKI.issueWithCA("leaf")
            if revokeIntermediate {
                try root.openssl(["ca", "-config", "ca.cnf", "-revoke", "intermediate.pem", "-crl_reason", "cACompromise"])
            }
            try root.makeCRL()
            try intermediatePKI.makeCRL()
            rootCA = try X509Certificate.parsePEM(try root.read("ca.pem"))[0]
            intermediate = try X509Certificate.parsePEM(try root.read("intermediate.pem"))[0]
            leaf = try X509Certificate.parsePEM(try intermediatePKI.read("leaf.pem"))[0]
            store = try CertificateTrustStore(anchors: [rootCA])
        }

        func fetcher() throws -> MapFetcher {
            func bytes(_ pki: TestPKI) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: pki.path("ca.crl")))) }
            return MapFetcher(documents: [ChainStatusTests.rootCRL: try bytes(root), ChainStatusTests.intermediateCRL: try bytes(intermediatePKI)])
        }
    }

    @Test("a revoked intermediate is found although the leaf is good, and marks the leaf as revoked for bound tokens")
    func revokedIntermediate() async throws {
        let hierarchy = try Hierarchy(revokeIntermediate: true)
        let chain = try hierarchy.store.verify(leaf: hierarchy.leaf, intermediates: [hierarchy.intermediate], at: Date())
        #expect(chain.count == 3)
        let checker = CertificateStatusChecker(fetcher: try hierarchy.fetcher(), trustStore: hierarchy.store)
        let outcomes = await checker.check(chain: chain)
        #expect(outcomes.count == 2)
        #expect(outcomes.first == .known(.good, .crl(Self.intermediateCRL)))
        guard case .known(.revoked(let reason, _), .crl(Self.rootCRL)) = outcomes.last else {
            Issue.record("the intermediate's revocation was not found: \(outcomes)")
            return
        }
        #expect(reason == "cACompromise")
        #expect(checker.isKnownRevoked(thumbprint: hierarchy.leaf.sha256Thumbprint))
        // A policy over the outcomes rejects the path.
        #expect(outcomes.contains { if case .reject = StatusPolicy().decide($0, anchorThumbprint: nil) { true } else { false } })
    }

    @Test("a good path: every non-anchor certificate checked, each against its own CRL, none against the anchor")
    func goodPath() async throws {
        let hierarchy = try Hierarchy(revokeIntermediate: false)
        let chain = try hierarchy.store.verify(leaf: hierarchy.leaf, intermediates: [hierarchy.intermediate], at: Date())
        let fetcher = try hierarchy.fetcher()
        let checker = CertificateStatusChecker(fetcher: fetcher, trustStore: hierarchy.store)
        #expect(await checker.check(chain: chain) == [.known(.good, .crl(Self.intermediateCRL)), .known(.good, .crl(Self.rootCRL))])
        #expect(Set(fetcher.gets.withLock { $0 }) == [Self.rootCRL, Self.intermediateCRL])
        #expect(!checker.isKnownRevoked(thumbprint: hierarchy.leaf.sha256Thumbprint))
        #expect(await checker.check(chain: [hierarchy.rootCA]) == [])
    }
}
