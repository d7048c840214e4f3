import CertificateStatus
import FapidRuntime
import Foundation
import OpenSSLKit

/// Cost of a certificate-status check: cold (an OCSP exchange with a real `openssl ocsp` responder on
/// loopback) and warm (answered from the cache).
enum StatusBench {
    static func run(seconds: Double) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fapibench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = 20_000 + Int.random(in: 0..<20_000)
        func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.currentDirectoryURL = directory
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
        }
        try "".write(to: directory.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench CA"])
        try "authorityInfoAccess=OCSP;URI:http://127.0.0.1:\(port)\n".write(
            to: directory.appendingPathComponent("leaf.ext"), atomically: true, encoding: .utf8)
        try openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=bench leaf"])
        try openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "1",
            "-extfile", "leaf.ext"])
        // An index entry saying the leaf is valid ("V"), so the responder answers good.
        let serial = try String(contentsOf: directory.appendingPathComponent("ca.srl"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try "V\t391231235959Z\t\t\(serial)\tunknown\t/CN=bench leaf\n".write(
            to: directory.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
        let responder = Process()
        responder.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        responder.arguments = ["ocsp", "-index", "index.txt", "-port", String(port), "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem", "-nmin", "5"]
        responder.currentDirectoryURL = directory
        responder.standardOutput = FileHandle.nullDevice
        responder.standardError = FileHandle.nullDevice
        try responder.run()
        defer { responder.terminate() }
        try await Task.sleep(for: .milliseconds(500))

        let ca = try X509Certificate.parsePEM(try String(contentsOf: directory.appendingPathComponent("ca.pem"), encoding: .utf8))[0]
        let leaf = try X509Certificate.parsePEM(try String(contentsOf: directory.appendingPathComponent("leaf.pem"), encoding: .utf8))[0]
        let store = try CertificateTrustStore(anchors: [ca])
        let fetcher = OutboundHTTPClient(extraRootsFile: nil)
        defer { Task { await fetcher.shutdown() } }

        // Cold: every check is a fresh OCSP exchange (request, HTTP POST, signature and window checks).
        let coldChecker = CertificateStatusChecker(fetcher: fetcher, trustStore: store)
        guard case .known(.good, .ocsp) = await coldChecker.fetchStatus(leaf: leaf, issuer: ca) else {
            print("cert-status: the OCSP responder did not answer good; skipped")
            return
        }
        var cold = 0
        let coldStart = ContinuousClock.now
        while ContinuousClock.now - coldStart < .milliseconds(Int64(seconds * 500)) {
            _ = await coldChecker.fetchStatus(leaf: leaf, issuer: ca)
            cold += 1
        }
        let coldElapsed = ContinuousClock.now - coldStart

        // Warm: answered from the cache.
        let warmChecker = CertificateStatusChecker(fetcher: fetcher, trustStore: store)
        _ = await warmChecker.check(leaf: leaf, issuer: ca)
        var warm = 0
        let warmStart = ContinuousClock.now
        while ContinuousClock.now - warmStart < .milliseconds(Int64(seconds * 500)) {
            for _ in 0..<100 { _ = await warmChecker.check(leaf: leaf, issuer: ca) }
            warm += 100
        }
        let warmElapsed = ContinuousClock.now - warmStart
        func micros(_ duration: Duration, _ count: Int) -> Double {
            (Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12) / Double(count)
        }
        print("cert-status cold (OCSP exchange on loopback)".padding(toLength: 44, withPad: " ", startingAt: 0)
            + String(format: "%12.0f µs per check", micros(coldElapsed, cold)))
        print("cert-status warm (cache hit)".padding(toLength: 44, withPad: " ", startingAt: 0)
            + String(format: "%12.2f µs per check", micros(warmElapsed, warm)))
    }
}
