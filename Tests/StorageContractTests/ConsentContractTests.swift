import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// The consent store's contract (issue 19), run unchanged against memory, SQLite and PostgreSQL: every member
/// round-trips, `grant_id` is kept on codes, tokens, refresh tokens and CIBA requests, the state machine of
/// `ConsentTransitions.swift` holds under real concurrency (on PostgreSQL each writer is its own transaction on
/// its own connection, as two instances' would be), revoking a consent revokes exactly its tokens, and a token
/// stored after its consent was withdrawn is stored revoked.
@Suite("Consent store contract")
struct ConsentContractTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// A payment of £250.00 to a payee whose name is not ASCII: the JSON must come back exactly.
    let payment: JSON = .array([
        .object([
            "type": .string("payment_initiation"),
            "instructedAmount": .object(["currency": .string("GBP"), "amount": .string("250.00")]),
            "creditorName": .string("ACME Ltd — Zürich ✓ \"quoted\""),
            "creditorAccount": .object(["iban": .string("GB29NWBK60161331926819")]),
            "remittanceInformation": .string("INV-42"),
        ])
    ])

    func consent(
        _ id: String, client: String = "c1", subject: String? = "alice", status: Consent.Status = .awaitingAuthorisation,
        created: TimeInterval = 0, expires: TimeInterval = 3600, approvalsRequired: Int = 1
    ) -> Consent {
        Consent(
            id: id, clientID: client, subject: subject, type: "payment_initiation", authorizationDetails: payment, scope: "openid payments",
            status: status, origin: .pushedRequest, createdAt: t0.addingTimeInterval(created), expiresAt: t0.addingTimeInterval(expires),
            approvalsRequired: approvalsRequired, certificateThumbprint: "x5t-of-tpp", certificateStatus: "good ocsp 2027-01-15T08:00:00Z",
            requestHash: String(repeating: "ab", count: 32))
    }

    func client(_ id: String) throws -> Client {
        try Client(
            clientID: id,
            metadata: [
                "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp,O=TPP,C=GB",
                "grant_types": ["authorization_code"], "scope": "payments", "org_id": "org-1",
            ],
            createdAt: t0)
    }

    func accessToken(_ name: String, grant: String?, issued: TimeInterval = 1, origin: [UInt8]? = nil) -> AccessTokenRecord {
        AccessTokenRecord(
            tokenHash: Crypto.sha256(name), clientID: "c1", subject: "alice", scope: "payments", issuedAt: t0.addingTimeInterval(issued),
            expiresAt: t0.addingTimeInterval(issued + 300), certificateThumbprint: "x5t", format: "opaque", originHash: origin, grantID: grant)
    }

    func refresh(_ name: String, grant: String?, issued: TimeInterval = 1) -> RefreshTokenRecord {
        RefreshTokenRecord(
            tokenHash: Crypto.sha256(name), clientID: "c1", subject: "alice", scope: "openid payments", authTime: t0, nonce: nil,
            certificateThumbprint: "x5t", codeHash: nil, issuedAt: t0.addingTimeInterval(issued), expiresAt: t0.addingTimeInterval(issued + 3600),
            grantID: grant)
    }

    var shown: String { ConsentEvidence.detailsHash(payment) }

    // MARK: grant_id on every row

    @Test("grant_id is kept on codes, access tokens (batched or not), refresh tokens and CIBA requests; rows without one read back without", arguments: Backend.available)
    func grantIDs(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        try await store.consents.insertConsent(consent("g1", status: .authorised), audit: nil)

        let code = AuthorizationCodeRecord(
            codeHash: Crypto.sha256("k1"), clientID: "c1", subject: "alice", redirectURI: "https://tpp.example/cb", scope: "openid payments",
            codeChallenge: "challenge", nonce: nil, authTime: t0, acr: nil, claims: nil, expiresAt: t0.addingTimeInterval(60), grantID: "g1")
        try await store.codes.insertCode(code, audit: nil)
        guard case .redeemed(let redeemed) = try await store.codes.redeemCode(hash: Crypto.sha256("k1"), now: t0) else {
            Issue.record("the code was not redeemed")
            return
        }
        #expect(redeemed.grantID == "g1")

        // From the code (an origin), without an origin (the batched path), and without a consent at all.
        try await store.tokens.insertAccessToken(accessToken("a-from-code", grant: "g1", origin: Crypto.sha256("k1")), audit: nil)
        try await store.tokens.insertAccessToken(accessToken("a-direct", grant: "g1"), audit: nil)
        try await store.tokens.insertAccessToken(accessToken("a-none", grant: nil), audit: nil)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a-from-code"))?.grantID == "g1")
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a-direct")) == accessToken("a-direct", grant: "g1"))
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a-none")) == accessToken("a-none", grant: nil))

        try await store.codes.insertRefreshToken(refresh("r1", grant: "g1"))
        try await store.codes.insertRefreshToken(refresh("r-none", grant: nil))
        #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r1")) == refresh("r1", grant: "g1"))
        #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r-none")) == refresh("r-none", grant: nil))

        let request = CIBARequest(
            id: "ciba-1", authReqIDHash: Crypto.sha256("auth-req-1"), clientID: "c1", username: "alice", scope: "openid payments",
            bindingMessage: "W4SCT", acr: nil, deliveryMode: "poll", notificationToken: nil, createdAt: t0, expiresAt: t0.addingTimeInterval(120),
            interval: 5, grantID: "g1")
        try await store.ciba.insertCIBARequest(request, audit: nil)
        var plain = request
        plain.id = "ciba-2"
        plain.authReqIDHash = Crypto.sha256("auth-req-2")
        plain.grantID = nil
        try await store.ciba.insertCIBARequest(plain, audit: nil)
        let pending = try await store.ciba.pendingCIBARequests(now: t0)
        #expect(pending.first { $0.id == "ciba-1" }?.grantID == "g1")
        #expect(pending.first { $0.id == "ciba-2" }?.grantID == nil)
        #expect(pending.first { $0.id == "ciba-1" } == request)
    }

    // MARK: Round trip, conflict, filters

    @Test("a consent round-trips every member (approvals, amr, unicode JSON details); a duplicate id conflicts and is not audited", arguments: Backend.available)
    func roundTrip(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        var full = consent("g1", status: .authorised)
        full.updatedAt = t0.addingTimeInterval(7)
        full.authorisedAt = t0.addingTimeInterval(7)
        full.decidedBy = "staff:bob"
        full.acr = "urn:openbanking:psd2:sca"
        full.amr = ["pwd", "otp"]
        full.approvals = [
            Consent.Approval(by: "staff:alice", at: t0.addingTimeInterval(5), detailsHash: shown),
            Consent.Approval(by: "staff:bob", at: t0.addingTimeInterval(7), detailsHash: shown),
        ]
        full.approvalsRequired = 2
        full.origin = .backchannelRequest
        try await store.consents.insertConsent(full, audit: AuditEvent(.consentCreated, at: t0, clientID: "c1", reason: ConsentEvidence.reason(consentID: "g1", [:])))
        #expect(try await store.consents.consent(id: "g1") == full)
        #expect(try await store.consents.consent(id: "g1")?.authorizationDetails.canonicalBytes == payment.canonicalBytes)
        #expect(try await store.consents.consent(id: "unknown") == nil)

        // The least a consent can hold: no subject, no optional member.
        let bare = Consent(
            id: "g2", clientID: "c2", subject: nil, type: "account_information", authorizationDetails: .array([]), scope: "accounts",
            status: .awaitingAuthorisation, origin: .resourceServer, createdAt: t0, expiresAt: t0.addingTimeInterval(60))
        try await store.consents.insertConsent(bare, audit: nil)
        #expect(try await store.consents.consent(id: "g2") == bare)

        let duplicate = await #expect(throws: StorageError.self) {
            try await store.consents.insertConsent(
                self.consent("g1"), audit: AuditEvent(.consentCreated, at: self.t0, clientID: "c1", reason: "consent=g1"))
        }
        #expect(duplicate?.code == .conflict)
        #expect(try await store.consents.consent(id: "g1") == full)
        #expect(try await fixture.auditIsIntact(rows: 1))
    }

    @Test("consents filter by client, subject and status, newest first, at most limit", arguments: Backend.available)
    func filters(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.consents.insertConsent(consent("a", client: "c1", subject: "alice", status: .authorised, created: 1), audit: nil)
        try await store.consents.insertConsent(consent("b", client: "c1", subject: "bob", status: .awaitingAuthorisation, created: 2), audit: nil)
        try await store.consents.insertConsent(consent("c", client: "c2", subject: "alice", status: .revoked, created: 3), audit: nil)
        try await store.consents.insertConsent(consent("d", client: "c2", subject: nil, status: .authorised, created: 4), audit: nil)
        try await store.consents.insertConsent(consent("e", client: "c1", subject: "alice", status: .authorised, created: 5), audit: nil)

        #expect(try await store.consents.consents(ConsentFilter()).map(\.id) == ["e", "d", "c", "b", "a"])
        #expect(try await store.consents.consents(ConsentFilter(clientID: "c1")).map(\.id) == ["e", "b", "a"])
        #expect(try await store.consents.consents(ConsentFilter(subject: "alice")).map(\.id) == ["e", "c", "a"])
        #expect(try await store.consents.consents(ConsentFilter(status: .authorised)).map(\.id) == ["e", "d", "a"])
        #expect(try await store.consents.consents(ConsentFilter(clientID: "c1", subject: "alice", status: .authorised)).map(\.id) == ["e", "a"])
        #expect(try await store.consents.consents(ConsentFilter(clientID: "c2", status: .awaitingAuthorisation)).isEmpty)
        #expect(try await store.consents.consents(ConsentFilter(limit: 2)).map(\.id) == ["e", "d"])
        #expect(try await store.consents.consents(ConsentFilter(limit: 0)).isEmpty)
        #expect(try await store.consents.consents(ConsentFilter(clientID: "nobody")).isEmpty)

        // As of a time: an authorised consent past its expiry reads as expired, whether or not it was marked.
        try await store.consents.insertConsent(consent("f", client: "c1", subject: "alice", status: .authorised, created: 6, expires: 10), audit: nil)
        let later = t0.addingTimeInterval(60)
        #expect(try await store.consents.consents(ConsentFilter(status: .authorised)).map(\.id) == ["f", "e", "d", "a"])
        #expect(try await store.consents.consents(ConsentFilter(status: .authorised, asOf: later)).map(\.id) == ["e", "d", "a"])
        #expect(try await store.consents.consents(ConsentFilter(status: .expired, asOf: later)).map(\.id) == ["f"])
        #expect(try await store.consents.consents(ConsentFilter(status: .expired)).isEmpty)
        #expect(try await store.consents.consents(ConsentFilter(status: .expired, asOf: t0)).isEmpty)
        #expect(try await store.consents.consents(ConsentFilter(status: .revoked, asOf: later)).map(\.id) == ["c"])
        #expect(try await store.consents.consents(ConsentFilter(clientID: "c1", status: .expired, asOf: later)).map(\.id) == ["f"])
        #expect(try await store.consents.consents(ConsentFilter(asOf: later)).count == 6)
    }

    @Test("updateConsent writes every member but id, client, origin and creation time; unknown ids answer nil", arguments: Backend.available)
    func update(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        let original = consent("g1")
        try await store.consents.insertConsent(original, audit: nil)
        let details: JSON = .array([.object(["type": .string("account_information"), "actions": .array([.string("balances")])])])
        let changed = try await store.consents.updateConsent(id: "g1") { current in
            var next = current
            next.id = "other-id"
            next.clientID = "other-client"
            next.origin = .resourceServer
            next.createdAt = self.t0.addingTimeInterval(999)
            next.subject = "bob"
            next.type = "account_information"
            next.authorizationDetails = details
            next.scope = "accounts"
            next.status = .authorised
            next.updatedAt = self.t0.addingTimeInterval(10)
            next.authorisedAt = self.t0.addingTimeInterval(10)
            next.expiresAt = self.t0.addingTimeInterval(7200)
            next.decidedBy = "bob"
            next.acr = "urn:acr:sca"
            next.amr = ["hwk"]
            next.approvals = [Consent.Approval(by: "bob", at: self.t0.addingTimeInterval(10), detailsHash: "00ff")]
            next.approvalsRequired = 3
            next.certificateThumbprint = "x5t-2"
            next.certificateStatus = "good crl 2027-01-15T08:00:00Z"
            next.requestHash = "cd"
            return StoredTransition(true, updated: next, audit: AuditEvent(.consentUpdated, at: self.t0, clientID: "c1", reason: "consent=g1"))
        }
        #expect(changed == true)
        var expected = original
        expected.subject = "bob"
        expected.type = "account_information"
        expected.authorizationDetails = details
        expected.scope = "accounts"
        expected.status = .authorised
        expected.updatedAt = t0.addingTimeInterval(10)
        expected.authorisedAt = t0.addingTimeInterval(10)
        expected.expiresAt = t0.addingTimeInterval(7200)
        expected.decidedBy = "bob"
        expected.acr = "urn:acr:sca"
        expected.amr = ["hwk"]
        expected.approvals = [Consent.Approval(by: "bob", at: t0.addingTimeInterval(10), detailsHash: "00ff")]
        expected.approvalsRequired = 3
        expected.certificateThumbprint = "x5t-2"
        expected.certificateStatus = "good crl 2027-01-15T08:00:00Z"
        expected.requestHash = "cd"
        #expect(try await store.consents.consent(id: "g1") == expected)
        #expect(try await store.consents.consent(id: "other-id") == nil)
        #expect(try await fixture.auditIsIntact(rows: 1))

        // A transition that changes nothing writes nothing.
        #expect(try await store.consents.updateConsent(id: "g1") { _ in StoredTransition(false) } == false)
        #expect(try await store.consents.consent(id: "g1") == expected)
        #expect(try await store.consents.updateConsent(id: "unknown") { _ in StoredTransition(true) } == nil)
        #expect(try await fixture.auditIsIntact(rows: 1))
    }

    // MARK: Races

    @Test("dual control: of 20 concurrent approvals by 2 accounts (10 each) under approvals_required 2, both are recorded, authorised exactly once", arguments: Backend.available)
    func dualControlRace(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.consents.insertConsent(consent("g1", subject: nil, approvalsRequired: 2), audit: nil)
        let hash = shown
        let outcomes = Outcomes()
        _ = await concurrently(20) { index in
            let approver = index.isMultiple(of: 2) ? "staff:alice" : "staff:bob"
            let outcome = try await store.consents.updateConsent(id: "g1") {
                $0.approved(by: approver, subject: "alice", acr: "urn:acr", amr: ["pwd"], shownHash: hash, at: self.t0.addingTimeInterval(5))
            }
            if let outcome { await outcomes.add(outcome) }
            return true
        }
        let all = await outcomes.all
        #expect(all.filter { if case .done = $0 { true } else { false } }.count == 1)
        #expect(all.filter { if case .approvalRecorded(_, remaining: 1) = $0 { true } else { false } }.count == 1)
        #expect(all.filter { $0 == .alreadyApprovedBy || $0 == .wrongStatus(.authorised) }.count == 18)
        let stored = try #require(try await store.consents.consent(id: "g1"))
        #expect(stored.status == .authorised)
        #expect(Set(stored.approvals.map(\.by)) == ["staff:alice", "staff:bob"])
        #expect(stored.approvals.count == 2)
        #expect(stored.subject == "alice")
        // One consent.approved and one consent.authorised row, linear.
        let rows = try await store.audit.rows(after: 0)
        #expect(rows.map { $0.values["type"] } == ["consent.approved", "consent.authorised"])
        #expect(try await fixture.auditIsIntact(rows: 2))
    }

    @Test("the same approver 20 times at once under approvals_required 2: one approval recorded, still awaiting", arguments: Backend.available)
    func sameApproverRace(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.consents.insertConsent(consent("g1", approvalsRequired: 2), audit: nil)
        let hash = shown
        let recorded = await concurrently(20) { _ in
            let outcome = try await store.consents.updateConsent(id: "g1") {
                $0.approved(by: "staff:alice", subject: "alice", acr: nil, amr: [], shownHash: hash, at: self.t0.addingTimeInterval(5))
            }
            if case .approvalRecorded(_, remaining: 1) = outcome { return true }
            #expect(outcome == .alreadyApprovedBy)
            return false
        }
        #expect(recorded == 1)
        let stored = try #require(try await store.consents.consent(id: "g1"))
        #expect(stored.status == .awaitingAuthorisation)
        #expect(stored.approvals.map(\.by) == ["staff:alice"])
        #expect(try await fixture.auditIsIntact(rows: 1))
    }

    @Test("approvals racing revocations and token inserts end in one order: revoked, never authorised after, every token revoked", arguments: Backend.available)
    func approvalRacingRevocation(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        try await store.consents.insertConsent(consent("g1"), audit: nil)
        let hash = shown
        _ = await concurrently(21) { index in
            switch index % 3 {
            case 0:
                _ = try await store.consents.updateConsent(id: "g1") {
                    $0.approved(by: "alice", subject: "alice", acr: nil, amr: [], shownHash: hash, at: self.t0.addingTimeInterval(5))
                }
            case 1:
                _ = try await store.consents.updateConsent(id: "g1") { $0.revoked(by: "staff:carol", at: self.t0.addingTimeInterval(6)) }
            default:
                try await store.tokens.insertAccessToken(self.accessToken("a\(index)", grant: "g1", issued: 7), audit: nil)
                try await store.codes.insertRefreshToken(self.refresh("r\(index)", grant: "g1", issued: 7))
            }
            return true
        }
        let stored = try #require(try await store.consents.consent(id: "g1"))
        #expect(stored.status == .revoked)
        for index in stride(from: 2, to: 21, by: 3) {
            #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a\(index)"))?.revokedAt != nil)
            #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r\(index)"))?.revokedAt != nil)
        }
        // The audit rows read in one order: at most one authorisation, exactly one revocation, nothing after it.
        let types = try await store.audit.rows(after: 0).compactMap { $0.values["type"] }
        #expect(types.filter { $0 == "consent.revoked" }.count == 1)
        #expect(types.filter { $0 == "consent.authorised" }.count <= 1)
        #expect(types.last == "consent.revoked")
        #expect(try await fixture.auditIsIntact(rows: types.count))
    }

    @Test("a single-payment consent consumed by 20 concurrent redemptions is consumed exactly once", arguments: Backend.available)
    func consumedOnce(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.consents.insertConsent(consent("g1", status: .authorised), audit: nil)
        let consumed = await concurrently(20) { _ in
            let outcome = try await store.consents.updateConsent(id: "g1") { $0.consumed(by: "c1", at: self.t0.addingTimeInterval(5)) }
            if case .done(let consent) = outcome { return consent.status == .consumed }
            #expect(outcome == .wrongStatus(.consumed))
            return false
        }
        #expect(consumed == 1)
        #expect(try await store.consents.consent(id: "g1")?.status == .consumed)
        #expect(try await store.consents.updateConsent(id: "g1") { $0.consumed(by: "c2", at: self.t0) } == .notYours)
        #expect(try await fixture.auditIsIntact(rows: 1))
    }

    // MARK: Revocation and the store-it-revoked rule

    @Test("revoking a consent revokes its access and refresh tokens only, with the audit event in the same transaction", arguments: Backend.available)
    func revocation(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        try await store.consents.insertConsent(consent("g1", status: .authorised), audit: nil)
        try await store.consents.insertConsent(consent("g2", status: .authorised), audit: nil)
        try await store.tokens.insertAccessToken(accessToken("mine", grant: "g1"), audit: nil)
        try await store.codes.insertRefreshToken(refresh("mine-r", grant: "g1"))
        try await store.tokens.insertAccessToken(accessToken("other", grant: "g2"), audit: nil)
        try await store.codes.insertRefreshToken(refresh("other-r", grant: "g2"))
        try await store.tokens.insertAccessToken(accessToken("none", grant: nil), audit: nil)
        try await store.codes.insertRefreshToken(refresh("none-r", grant: nil))

        let at = t0.addingTimeInterval(30)
        let outcome = try await store.consents.updateConsent(id: "g1") { $0.revoked(by: "staff:carol", at: at) }
        guard case .done(let revoked) = outcome else {
            Issue.record("not revoked: \(String(describing: outcome))")
            return
        }
        #expect(revoked.status == .revoked)
        #expect(try await store.consents.consent(id: "g1")?.status == .revoked)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("mine"))?.revokedAt == at)
        #expect(try await store.codes.refreshToken(hash: Crypto.sha256("mine-r"))?.revokedAt == at)
        for name in ["other", "none"] { #expect(try await store.tokens.accessToken(hash: Crypto.sha256(name))?.revokedAt == nil) }
        for name in ["other-r", "none-r"] { #expect(try await store.codes.refreshToken(hash: Crypto.sha256(name))?.revokedAt == nil) }
        let rows = try await store.audit.rows(after: 0)
        #expect(rows.count == 1)
        #expect(rows.first?.values["type"] == "consent.revoked")
        #expect(ConsentEvidence.fields(of: rows.first?.values["reason"])["consent"] == "g1")
        #expect(ConsentEvidence.fields(of: rows.first?.values["reason"])["by"] == "staff:carol")
        #expect(try await fixture.auditIsIntact(rows: 1))

        // Revoked once: a second revocation finds it revoked and changes nothing.
        #expect(try await store.consents.updateConsent(id: "g1") { $0.revoked(by: "client", at: at) } == .wrongStatus(.revoked))
        #expect(try await fixture.auditIsIntact(rows: 1))
    }

    @Test("a token stored after its consent was revoked, rejected or expired is stored revoked; one of a consumed or standing consent is not", arguments: Backend.available)
    func storedRevoked(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        try await store.consents.insertConsent(consent("revoked", status: .authorised), audit: nil)
        _ = try await store.consents.updateConsent(id: "revoked") { $0.revoked(by: "client", at: self.t0.addingTimeInterval(1)) }
        try await store.consents.insertConsent(consent("rejected", status: .rejected), audit: nil)
        try await store.consents.insertConsent(consent("expired", status: .authorised, expires: 10), audit: nil)
        try await store.consents.insertConsent(consent("marked-expired", status: .expired), audit: nil)
        try await store.consents.insertConsent(consent("consumed", status: .consumed), audit: nil)
        try await store.consents.insertConsent(consent("standing", status: .authorised), audit: nil)

        for grant in ["revoked", "rejected", "expired", "marked-expired", "consumed", "standing", "no-such-consent"] {
            // Without an origin (PostgreSQL's batched path for grant-less tokens), from a code, and refresh tokens.
            try await store.tokens.insertAccessToken(accessToken("a-\(grant)", grant: grant, issued: 20), audit: nil)
            try await store.codes.insertCode(
                AuthorizationCodeRecord(
                    codeHash: Crypto.sha256("k-\(grant)"), clientID: "c1", subject: "alice", redirectURI: "https://tpp.example/cb", scope: "payments",
                    codeChallenge: "c", nonce: nil, authTime: t0, acr: nil, claims: nil, expiresAt: t0.addingTimeInterval(60), grantID: grant),
                audit: nil)
            try await store.tokens.insertAccessToken(accessToken("o-\(grant)", grant: grant, issued: 20, origin: Crypto.sha256("k-\(grant)")), audit: nil)
            try await store.codes.insertRefreshToken(refresh("r-\(grant)", grant: grant, issued: 20))
        }
        for grant in ["revoked", "rejected", "expired", "marked-expired"] {
            #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a-\(grant)"))?.revokedAt == t0.addingTimeInterval(20), "\(grant)")
            #expect(try await store.tokens.accessToken(hash: Crypto.sha256("o-\(grant)"))?.revokedAt == t0.addingTimeInterval(20), "\(grant)")
            #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r-\(grant)"))?.revokedAt == t0.addingTimeInterval(20), "\(grant)")
        }
        for grant in ["consumed", "standing", "no-such-consent"] {
            #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a-\(grant)"))?.revokedAt == nil, "\(grant)")
            #expect(try await store.tokens.accessToken(hash: Crypto.sha256("o-\(grant)"))?.revokedAt == nil, "\(grant)")
            #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r-\(grant)"))?.revokedAt == nil, "\(grant)")
        }
    }

    @Test("of tokens inserted while their consent is revoked by 10 concurrent revocations, every one ends revoked", arguments: Backend.available)
    func insertRacingRevocation(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        try await store.consents.insertConsent(consent("g1", status: .authorised), audit: nil)
        let revocations = await concurrently(20) { index in
            if index.isMultiple(of: 2) {
                try await store.tokens.insertAccessToken(self.accessToken("a\(index)", grant: "g1", issued: 5), audit: nil)
                try await store.codes.insertRefreshToken(self.refresh("r\(index)", grant: "g1", issued: 5))
                return false
            }
            if case .done = try await store.consents.updateConsent(id: "g1", { $0.revoked(by: "client", at: self.t0.addingTimeInterval(4)) }) {
                return true
            }
            return false
        }
        #expect(revocations == 1)
        for index in stride(from: 0, to: 20, by: 2) {
            #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a\(index)"))?.revokedAt != nil)
            #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r\(index)"))?.revokedAt != nil)
        }
    }

    // MARK: Expiry

    @Test("consents past expires_at read as expired; the sweep marks them expired in bounded batches, revokes their tokens, keeps the rows", arguments: Backend.available)
    func expirySweep(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        for index in 0..<5 { try await store.consents.insertConsent(consent("old\(index)", status: .authorised, created: Double(index), expires: 10), audit: nil) }
        try await store.consents.insertConsent(consent("old-awaiting", status: .awaitingAuthorisation, expires: 10), audit: nil)
        try await store.consents.insertConsent(consent("old-consumed", status: .consumed, expires: 10), audit: nil)
        try await store.consents.insertConsent(consent("fresh", status: .authorised, expires: 3600), audit: nil)
        try await store.tokens.insertAccessToken(accessToken("a-old0", grant: "old0", issued: 1), audit: nil)
        try await store.codes.insertRefreshToken(refresh("r-old0", grant: "old0", issued: 1))
        try await store.tokens.insertAccessToken(accessToken("a-fresh", grant: "fresh", issued: 1), audit: nil)

        let now = t0.addingTimeInterval(60)
        #expect(try await store.consents.consent(id: "old0")?.status(at: now) == .expired)
        #expect(try await store.consents.consent(id: "old-consumed")?.status(at: now) == .consumed)
        #expect(try await store.consents.consent(id: "fresh")?.status(at: now) == .authorised)

        // 6 are due; batches of 4 take two passes, and a third finds nothing.
        #expect(try await store.consents.markExpiredConsents(now: now, limit: 4) == 4)
        #expect(try await store.consents.markExpiredConsents(now: now, limit: 4) == 2)
        #expect(try await store.consents.markExpiredConsents(now: now, limit: 4) == 0)
        let expired = try await store.consents.consents(ConsentFilter(status: .expired)).map(\.id)
        #expect(Set(expired) == ["old0", "old1", "old2", "old3", "old4", "old-awaiting"])
        #expect(try await store.consents.consent(id: "old0")?.updatedAt == now)
        #expect(try await store.consents.consent(id: "old-consumed")?.status == .consumed)
        #expect(try await store.consents.consent(id: "fresh")?.status == .authorised)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a-old0"))?.revokedAt == now)
        #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r-old0"))?.revokedAt == now)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a-fresh"))?.revokedAt == nil)
        // Each expiry is evidence: one consent.updated row with status=expired per consent, chained.
        let rows = try await store.audit.rows(after: 0)
        #expect(rows.count == 6)
        #expect(rows.allSatisfy { $0.values["type"] == "consent.updated" && ConsentEvidence.fields(of: $0.values["reason"])["status"] == "expired" })
        #expect(try await fixture.auditIsIntact(rows: 6))
        // The token sweep, long after, never deletes consents.
        _ = try await store.tokens.sweepExpired(now: t0.addingTimeInterval(400 * 86400), retention: 3600)
        #expect(try await store.consents.consents(ConsentFilter()).count == 8)
    }
}

/// Outcomes collected from concurrent tasks.
actor Outcomes {
    private(set) var all: [ConsentOutcome] = []
    func add(_ outcome: ConsentOutcome) { all.append(outcome) }
}
