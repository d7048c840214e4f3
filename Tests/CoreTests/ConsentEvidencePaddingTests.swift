import AuthorizationServer
import Foundation
import JOSE
import MemoryStorage
import TestSupport
import Testing

/// `fapictl audit export --consent ID` takes only server-built rows: a `consent.*` or `ciba.*` row naming the consent.
/// A row of another kind whose reason holds client-chosen text that looks like `consent=ID` is not evidence.
@Suite("Consent evidence padding")
struct ConsentEvidencePaddingTests {
    @Test("a token.issued row whose reason carries a client's scope 'x consent=g1' is not in the evidence of g1")
    func clientTextIsNotEvidence() async throws {
        let storage = MemoryStorage()
        let clock = FixedClock()
        let t0 = FixedClock.defaultStart
        let details: JSON = [["type": "account_information", "actions": ["balances"]]]
        let consent = Consent(
            id: "g1", clientID: "c1", subject: "alice", type: "account_information", authorizationDetails: details, scope: "accounts",
            status: .awaitingAuthorisation, origin: .pushedRequest, createdAt: t0, expiresAt: t0.addingTimeInterval(3600))
        try await storage.consents.insertConsent(
            consent, audit: AuditEvent(.consentCreated, at: t0, clientID: "c1", reason: ConsentEvidence.reason(consentID: "g1", [:])))
        // What a client controls: the scope it asked for, logged in a token.issued reason.
        try await storage.audit.append(AuditEvent(.tokenIssued, at: t0, clientID: "evil", reason: "scope=x consent=g1"))
        try await storage.audit.append(AuditEvent(.tokenIssued, at: t0, clientID: "evil", reason: "consent=g1"))
        try await storage.audit.append(
            AuditEvent(.cibaDecided, at: t0, clientID: "c1", reason: ConsentEvidence.reason(consentID: "g1", ["outcome": "approved"])))
        let administration = ConsentAdministration(consents: storage.consents, clock: clock)
        let evidence = try #require(try await administration.evidence(id: "g1", audit: storage.audit)?.objectValue)
        let rows = try #require(evidence["audit"]?.arrayValue).compactMap { $0.objectValue }
        #expect(rows.map { $0["type"] } == [.string("consent.created"), .string("ciba.decided")])
        #expect(rows.map { $0["seq"] } == [.int(1), .int(4)])
    }
}

@Suite struct ConsentEvidenceReasonTests {
    @Test func onlyAReasonWrittenByConsentEvidenceIsReadBack() {
        let written = ConsentEvidence.reason(consentID: "g1", ["type": "payment_initiation"])
        #expect(ConsentEvidence.fields(of: written)["consent"] == "g1")
        // A requested scope embedding the word is not evidence of that consent.
        #expect(ConsentEvidence.fields(of: "scope openid x consent=g1").isEmpty)
    }
}
