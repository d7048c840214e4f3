import CertificateStatus
import Foundation
import Synchronization
import TestSupport

/// A fetcher answering GETs per URL from memory, and POSTs either with fixed bytes or by running
/// `openssl ocsp` as a responder over the request actually sent (so the answer echoes its nonce).
final class MapFetcher: StatusFetcher {
    enum OCSPMode {
        case none
        case fixed([UInt8])
        /// `openssl ocsp -index` in this PKI's directory, signed by its CA; `nextUpdateMinutes` nil omits nextUpdate.
        case live(TestPKI, nextUpdateMinutes: Int?)
    }

    let documents: Mutex<[String: [UInt8]]>
    let ocsp: Mutex<OCSPMode>
    let gets = Mutex<[String]>([])
    let posts = Mutex(0)

    init(documents: [String: [UInt8]] = [:], ocsp: OCSPMode = .none) {
        self.documents = Mutex(documents)
        self.ocsp = Mutex(ocsp)
    }

    func serve(_ url: String, _ body: [UInt8]) { documents.withLock { $0[url] = body } }

    func post(_ url: String, body: [UInt8], contentType: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8] {
        posts.withLock { $0 += 1 }
        switch ocsp.withLock({ $0 }) {
        case .none: throw StatusSourceFailure("connection refused")
        case .fixed(let bytes): return bytes
        case .live(let pki, let minutes):
            let name = "live-\(UUID().uuidString)"
            do {
                try Data(body).write(to: URL(fileURLWithPath: pki.path("\(name).req")))
                try pki.openssl(
                    ["ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem", "-reqin", "\(name).req",
                        "-respout", "\(name).resp"] + (minutes.map { ["-nmin", String($0)] } ?? []))
                return [UInt8](try Data(contentsOf: URL(fileURLWithPath: pki.path("\(name).resp"))))
            } catch {
                throw StatusSourceFailure("responder failed: \(error)")
            }
        }
    }

    func get(_ url: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8] {
        gets.withLock { $0.append(url) }
        guard let body = documents.withLock({ $0[url] }) else { throw StatusSourceFailure("404 for \(url)") }
        return body
    }
}
