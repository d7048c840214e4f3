import CertificateStatus
import Testing

@Suite("StatusPolicy")
struct StatusPolicyTests {
    @Test("an unverified acceptance says why as a value: soft-fail with each source's failure, or no status pointers")
    func unverifiedReasons() {
        let unknown = StatusOutcome.unknown(["ocsp x: timeout", "crl y: 404"])
        let softFail = StatusPolicy(mode: .softFail).decide(unknown, anchorThumbprint: nil)
        #expect(softFail == .acceptUnverified(.softFail(["ocsp x: timeout", "crl y: 404"])))
        #expect("\(StatusPolicy.Unverified.softFail(["ocsp x: timeout", "crl y: 404"]))" == "soft-fail: ocsp x: timeout; crl y: 404")
        #expect(StatusPolicy(mode: .softFail).decide(.known(.good, .noPointers), anchorThumbprint: nil) == .acceptUnverified(.noPointers))
        #expect(StatusPolicy().decide(.known(.good, .noPointers), anchorThumbprint: nil) == .acceptUnverified(.noPointers))
    }
}
