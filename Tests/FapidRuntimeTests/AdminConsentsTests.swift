import AuthorizationServer
@testable import FapidRuntime
import Foundation
import JOSE
import Logging
import OpenSSLKit
import TestSupport
import Testing

/// The consent operations of the admin socket (`fapictl consents list|show|revoke`, issue 19).
@Suite("AdminProtocol: consents")
struct AdminConsentsTests {
    func parse(_ text: String) -> Result<AdminRequest, AdminRequest.Refusal> { AdminRequest.parse(Array(text.utf8)) }

    @Test("consent requests round-trip; wrong member types are refused with a reason; a by member is ignored")
    func requests() throws {
        #expect(try parse(#"{"op":"consents.list"}"#).get() == .consentsList(clientID: nil, user: nil, status: nil, limit: nil))
        #expect(
            try parse(#"{"op":"consents.list","client_id":"c1","user":"alice","status":"authorised","limit":5}"#).get()
                == .consentsList(clientID: "c1", user: "alice", status: "authorised", limit: 5))
        #expect(try parse(#"{"op":"consents.revoke","id":"g1","by":"mallory"}"#).get() == .consentRevoke(id: "g1"))
        for request in [
            AdminRequest.consentsList(clientID: "c1", user: nil, status: "revoked", limit: 3), .consentsList(clientID: nil, user: nil, status: nil, limit: nil),
            .consentShow(id: "g1"), .consentRevoke(id: "g2"),
        ] {
            let line = try [UInt8](JSONEncoder().encode(request))
            #expect(try AdminRequest.parse(line).get() == request)
            #expect(try JSON.parseObject(line)["op"]?.stringValue == request.op)
        }
        if case .failure(let refusal) = parse(#"{"op":"consents.list","limit":"ten"}"#) {
            #expect(refusal.description == "consents.list takes strings client_id, user, status and an integer limit")
        } else {
            Issue.record("a string limit was accepted")
        }
        if case .failure(let refusal) = parse(#"{"op":"consents.show"}"#) { #expect(refusal.description == "consents.show needs id") } else {
            Issue.record("show without id was accepted")
        }
        let consent: JSON = ["consent_id": "g1", "status": "revoked"]
        for response in [AdminResponse.consents([consent]), .consents([]), .consentRevoked(consent, by: "staff:carol")] {
            #expect(try JSONDecoder().decode(AdminResponse.self, from: Data(response.line)) == response)
        }
        #expect(try JSON.parseObject(AdminResponse.consentRevoked(consent, by: "staff:carol").line) == ["ok": true, "consent": consent, "by": "staff:carol"])
    }

    @Test("the socket lists by status as of now, shows, and revokes as staff:<peer account> with the consent's tokens")
    func handler() async throws {
        let fixture = try CoreServiceFixture("admin-consents")
        try await fixture.client("c1")
        var logger = Logging.Logger(label: "admin")
        logger.logLevel = .critical
        let t0 = fixture.clock.now()
        let socket = AdminSocket(
            path: fixture.directory.path("fapid.sock"),
            ciba: CIBADecisionService(store: fixture.storage.ciba, clients: fixture.storage.clients, clock: fixture.clock),
            consents: ConsentAdministration(consents: fixture.storage.consents, clock: fixture.clock), logger: logger)
        let details: JSON = [["type": "payment_initiation", "instructedAmount": ["currency": "GBP", "amount": "250.00"]]]
        for (id, expires) in [("g1", 3600.0), ("g2", 30.0)] {
            try await fixture.storage.consents.insertConsent(
                Consent(
                    id: id, clientID: "c1", subject: "alice", type: "payment_initiation", authorizationDetails: details, scope: "payments",
                    status: .authorised, origin: .pushedRequest, createdAt: t0, expiresAt: t0.addingTimeInterval(expires)),
                audit: nil)
        }
        try await fixture.storage.tokens.insertAccessToken(
            AccessTokenRecord(
                tokenHash: Crypto.sha256("t1"), clientID: "c1", subject: "alice", scope: "payments", issuedAt: t0, expiresAt: t0.addingTimeInterval(300),
                certificateThumbprint: nil, format: "opaque", grantID: "g1"),
            audit: nil)
        fixture.clock.advance(60)

        guard case .consents(let authorised) = await socket.handle(.consentsList(clientID: "c1", user: nil, status: "authorised", limit: nil), staff: "carol")
        else { Issue.record("no listing"); return }
        #expect(authorised.map { $0.objectValue?["consent_id"] } == [.string("g1")])
        guard case .consents(let expired) = await socket.handle(.consentsList(clientID: nil, user: "alice", status: "expired", limit: 10), staff: "carol")
        else { Issue.record("no listing"); return }
        #expect(expired.map { $0.objectValue?["consent_id"] } == [.string("g2")])
        let unknownStatus = await socket.handle(.consentsList(clientID: nil, user: nil, status: "paused", limit: nil), staff: "carol")
        #expect(unknownStatus == .failure("unknown status paused: one of awaiting_authorisation, authorised, rejected, consumed, revoked, expired"))

        guard case .consents(let shown) = await socket.handle(.consentShow(id: "g1"), staff: "carol") else { Issue.record("not shown"); return }
        #expect(shown.first?.objectValue?["authorization_details"] == details)
        #expect(await socket.handle(.consentShow(id: "nope\u{1B}[2J"), staff: "carol") == .failure("no consent nope\\u{1B}[2J"))

        guard case .consentRevoked(let revoked, let by) = await socket.handle(.consentRevoke(id: "g1"), staff: "carol") else {
            Issue.record("not revoked")
            return
        }
        #expect(by == "staff:carol")
        #expect(revoked.objectValue?["status"] == .string("revoked"))
        #expect(try await fixture.storage.tokens.accessToken(hash: Crypto.sha256("t1"))?.revokedAt == fixture.clock.now())
        let row = try #require(try await fixture.storage.audit.rows(after: 0).last)
        #expect(ConsentEvidence.fields(of: row.values["reason"])["by"] == "staff:carol")
        #expect(await socket.handle(.consentRevoke(id: "g1"), staff: "carol") == .failure("consent g1 is revoked: only an awaiting or authorised consent can be revoked"))
        #expect(await socket.handle(.consentRevoke(id: "g2"), staff: "carol") == .failure("consent g2 is expired: only an awaiting or authorised consent can be revoked"))
        #expect(await socket.handle(.consentRevoke(id: "g9"), staff: "carol") == .failure("no consent g9"))

        // A daemon without the consent service says so.
        let bare = AdminSocket(
            path: fixture.directory.path("fapid2.sock"),
            ciba: CIBADecisionService(store: fixture.storage.ciba, clients: fixture.storage.clients, clock: fixture.clock), logger: logger)
        #expect(await bare.handle(.consentShow(id: "g1"), staff: "carol") == .failure("consents are not served by this daemon"))
    }
}
