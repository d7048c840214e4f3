import AuthorizationServer
import Foundation
import JOSE
import MemoryStorage
import OpenSSLKit
import TestSupport
import Testing

/// The bank's view of consents (`ConsentAdministration`, behind `fapictl consents` and `fapictl audit export
/// --consent`), the store-it-revoked rule for a withdrawn consent, and the expiry transition, on MemoryStorage
/// with a FixedClock.
@Suite("Consent administration")
struct ConsentAdministrationTests {
    let storage = MemoryStorage()
    let clock = FixedClock()
    var t0: Date { FixedClock.defaultStart }
    var administration: ConsentAdministration { ConsentAdministration(consents: storage.consents, clock: clock) }

    let details: JSON = .array([
        .object([
            "type": .string("payment_initiation"),
            "instructedAmount": .object(["currency": .string("GBP"), "amount": .string("250.00")]),
            "creditorName": .string("ACME Ltd"), "creditorAccount": .object(["iban": .string("GB29NWBK60161331926819")]),
        ])
    ])

    func consent(_ id: String, client: String = "c1", subject: String? = "alice", status: Consent.Status = .awaitingAuthorisation,
                 created: TimeInterval = 0, expires: TimeInterval = 3600) -> Consent {
        Consent(
            id: id, clientID: client, subject: subject, type: "payment_initiation", authorizationDetails: details, scope: "payments",
            status: status, origin: .pushedRequest, createdAt: t0.addingTimeInterval(created), expiresAt: t0.addingTimeInterval(expires),
            certificateThumbprint: "x5t-tpp", certificateStatus: "good ocsp 2027-01-15T07:59:00Z", requestHash: "ab")
    }

    func token(_ name: String, grant: String?, issued: TimeInterval = 1) -> AccessTokenRecord {
        AccessTokenRecord(
            tokenHash: Crypto.sha256(name), clientID: "c1", subject: "alice", scope: "payments", issuedAt: t0.addingTimeInterval(issued),
            expiresAt: t0.addingTimeInterval(issued + 300), certificateThumbprint: "x5t", format: "opaque", grantID: grant)
    }

    func insertClient() async throws {
        try await storage.clients.insertClient(
            try Client(
                clientID: "c1",
                metadata: ["token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp", "grant_types": ["client_credentials"]],
                createdAt: t0),
            audit: nil)
    }

    // MARK: The store-it-revoked rule

    @Test("the rule: a token of a revoked, rejected or expired consent is stored revoked; consumed, awaiting, unknown are not")
    func grantWithdrawnRule() {
        let issued = t0.addingTimeInterval(100)
        for status in [Consent.Status.revoked, .rejected, .expired] {
            #expect(TokenOrigin.grantWithdrawn(status: status, expiresAt: t0.addingTimeInterval(3600), at: issued), "\(status)")
        }
        for status in [Consent.Status.authorised, .consumed, .awaitingAuthorisation] {
            #expect(!TokenOrigin.grantWithdrawn(status: status, expiresAt: t0.addingTimeInterval(3600), at: issued), "\(status)")
        }
        // Authorised but past its expiry when the token is issued: expired.
        #expect(TokenOrigin.grantWithdrawn(status: .authorised, expiresAt: issued, at: issued))
        #expect(!TokenOrigin.grantWithdrawn(status: .consumed, expiresAt: t0, at: issued))
        #expect(!TokenOrigin.grantWithdrawn(status: nil, expiresAt: nil, at: issued))
        #expect(TokenOrigin(grantRevoked: true).isRevoked)
        let record = token("t", grant: "g1")
        #expect(record.asStored(clientExists: true, origin: TokenOrigin(grantRevoked: true)).revokedAt == record.issuedAt)
        #expect(record.asStored(clientExists: true, origin: .standing).revokedAt == nil)
        let refresh = RefreshTokenRecord(
            tokenHash: Crypto.sha256("r"), clientID: "c1", subject: "alice", scope: "payments", authTime: t0, nonce: nil,
            certificateThumbprint: nil, codeHash: nil, issuedAt: issued, expiresAt: issued.addingTimeInterval(60), grantID: "g1")
        #expect(refresh.asStored(codeReused: false, grantRevoked: true).revokedAt == issued)
        #expect(refresh.asStored(codeReused: false).revokedAt == nil)
    }

    // MARK: List and show

    @Test("list filters by client, user and status as of now; an authorised consent past expiry lists as expired")
    func list() async throws {
        try await storage.consents.insertConsent(consent("a", status: .authorised, created: 1, expires: 30), audit: nil)
        try await storage.consents.insertConsent(consent("b", client: "c2", subject: "bob", status: .authorised, created: 2), audit: nil)
        try await storage.consents.insertConsent(consent("c", status: .revoked, created: 3), audit: nil)
        #expect(try await administration.list(clientID: nil, subject: nil, status: nil, limit: 10).map(\.id) == ["c", "b", "a"])
        #expect(try await administration.list(clientID: nil, subject: nil, status: .authorised, limit: 10).map(\.id) == ["b", "a"])
        clock.advance(60)
        #expect(try await administration.list(clientID: nil, subject: nil, status: .authorised, limit: 10).map(\.id) == ["b"])
        #expect(try await administration.list(clientID: nil, subject: nil, status: .expired, limit: 10).map(\.id) == ["a"])
        #expect(try await administration.list(clientID: "c1", subject: "alice", status: nil, limit: 10).map(\.id) == ["c", "a"])
        #expect(try await administration.list(clientID: nil, subject: "bob", status: nil, limit: 10).map(\.id) == ["b"])
        #expect(try await administration.list(clientID: nil, subject: nil, status: nil, limit: 1).map(\.id) == ["c"])
        // The JSON of a listing: status as of now, the stored one beside it, the hashes and the approvals.
        let shown = try #require(try await administration.consent(id: "a"))
        let json = try #require(administration.json(shown).objectValue)
        #expect(json["status"] == .string("expired"))
        #expect(json["stored_status"] == .string("authorised"))
        #expect(json["consent_id"] == .string("a"))
        #expect(json["details_sha256"] == .string(ConsentEvidence.detailsHash(details)))
        #expect(json["authorization_details"] == details)
        #expect(json["created_at"] == .int(Int64(t0.timeIntervalSince1970) + 1))
        #expect(json["authorised_at"] == .null)
        #expect(json["approvals"] == .array([]))
        #expect(json["approvals_required"] == .int(1))
    }

    // MARK: Revoke

    @Test("staff revocation: recorded as staff:<account>, revokes the consent's tokens only, audited; unknown and not revocable refused")
    func revoke() async throws {
        try await insertClient()
        try await storage.consents.insertConsent(consent("g1", status: .authorised), audit: nil)
        try await storage.consents.insertConsent(consent("g2", status: .authorised), audit: nil)
        try await storage.consents.insertConsent(consent("done", status: .consumed), audit: nil)
        try await storage.tokens.insertAccessToken(token("mine", grant: "g1"), audit: nil)
        try await storage.tokens.insertAccessToken(token("theirs", grant: "g2"), audit: nil)
        try await storage.tokens.insertAccessToken(token("none", grant: nil), audit: nil)
        clock.advance(10)

        guard case .revoked(let revoked) = try await administration.revoke(id: "g1", staff: "carol") else {
            Issue.record("not revoked")
            return
        }
        #expect(revoked.status == .revoked)
        #expect(try await storage.tokens.accessToken(hash: Crypto.sha256("mine"))?.revokedAt == clock.now())
        #expect(try await storage.tokens.accessToken(hash: Crypto.sha256("theirs"))?.revokedAt == nil)
        #expect(try await storage.tokens.accessToken(hash: Crypto.sha256("none"))?.revokedAt == nil)
        let row = try #require(try await storage.audit.rows(after: 0).last)
        #expect(row.values["type"] == "consent.revoked")
        #expect(ConsentEvidence.fields(of: row.values["reason"]) == ["consent": "g1", "by": "staff:carol", "type": "payment_initiation"])

        #expect(try await administration.revoke(id: "g1", staff: "carol") == .notRevocable(.revoked))
        #expect(try await administration.revoke(id: "done", staff: "carol") == .notRevocable(.consumed))
        #expect(try await administration.revoke(id: "nothing", staff: "carol") == .unknown)
        // A token issued afterwards under the revoked consent is stored revoked.
        try await storage.tokens.insertAccessToken(token("late", grant: "g1", issued: 20), audit: nil)
        #expect(try await storage.tokens.accessToken(hash: Crypto.sha256("late"))?.revokedAt == t0.addingTimeInterval(20))
    }

    // MARK: Evidence

    @Test("evidence: the consent with hashes and certificate, exactly its audit rows, the chain verified through the last of them")
    func evidence() async throws {
        try await insertClient()
        var created = consent("g1", subject: nil)
        created.approvalsRequired = 2
        try await storage.consents.insertConsent(
            created,
            audit: AuditEvent(
                .consentCreated, at: t0, clientID: "c1", certificateThumbprint: "x5t-tpp",
                reason: ConsentEvidence.reason(consentID: "g1", ["request_sha256": "ab", "details_sha256": ConsentEvidence.detailsHash(details)])))
        try await storage.audit.append(AuditEvent(.tokenIssued, at: t0, clientID: "c1", reason: "unrelated"))
        try await storage.consents.insertConsent(
            consent("g2"), audit: AuditEvent(.consentCreated, at: t0, clientID: "c1", reason: ConsentEvidence.reason(consentID: "g2", [:])))
        let hash = ConsentEvidence.detailsHash(details)
        for approver in ["staff:alice", "staff:bob"] {
            _ = try await storage.consents.updateConsent(id: "g1") {
                $0.approved(by: approver, subject: "alice", acr: "urn:acr:sca", amr: ["pwd"], shownHash: hash, at: self.t0.addingTimeInterval(5))
            }
        }
        try await storage.audit.append(AuditEvent(.tokenIssued, at: t0, clientID: "c1", reason: "consent=g10 lookalike"))

        let evidence = try #require(try await administration.evidence(id: "g1", audit: storage.audit)?.objectValue)
        let consentJSON = try #require(evidence["consent"]?.objectValue)
        #expect(consentJSON["consent_id"] == .string("g1"))
        #expect(consentJSON["status"] == .string("authorised"))
        #expect(consentJSON["request_sha256"] == .string("ab"))
        #expect(consentJSON["details_sha256"] == .string(hash))
        #expect(consentJSON["certificate"] == .object(["x5t#S256": .string("x5t-tpp"), "status": .string("good ocsp 2027-01-15T07:59:00Z")]))
        #expect(consentJSON["approvals"]?.arrayValue?.count == 2)
        let audit = try #require(evidence["audit"]?.arrayValue)
        let rows = audit.compactMap { $0.objectValue }
        #expect(rows.map { $0["type"] } == [.string("consent.created"), .string("consent.approved"), .string("consent.authorised")])
        #expect(rows.map { $0["seq"] } == [.int(1), .int(4), .int(5)])
        #expect(rows[0]["x5t#S256"] == .string("x5t-tpp"))
        #expect(rows[1]["user"] == .string("staff:alice"))
        #expect(rows[2]["reason_fields"]?.objectValue?["details_sha256"] == .string(hash))
        #expect(rows[2]["reason_fields"]?.objectValue?["approvals"] == .string("2/2"))
        let stored = try await storage.audit.rows(after: 0)
        #expect(rows[2]["hash"] == .string(stored[4].hash))
        #expect(evidence["chain"] == .object([
            "verified": .bool(true), "verified_through_seq": .int(5), "head_seq": .int(6), "rows_checked": .int(6), "problem": .null,
        ]))
        #expect(try await administration.evidence(id: "unknown", audit: storage.audit) == nil)

        // A changed row before the consent's last row: not verified, the row named. A change after it: verified
        // through it, the later problem still reported.
        let early = try #require(try await administration.evidence(id: "g1", audit: Tampered(log: storage.audit, seq: 2))?.objectValue)
        #expect(early["chain"]?.objectValue?["verified"] == .bool(false))
        #expect(early["chain"]?.objectValue?["problem"]?.objectValue?["seq"] == .int(2))
        #expect(early["audit"]?.arrayValue?.count == 3)
        let late = try #require(try await administration.evidence(id: "g1", audit: Tampered(log: storage.audit, seq: 6))?.objectValue)
        #expect(late["chain"]?.objectValue?["verified"] == .bool(true))
        #expect(late["chain"]?.objectValue?["problem"]?.objectValue?["seq"] == .int(6))
    }

    // MARK: Expiry

    @Test("the expiry transition marks only a due awaiting or authorised consent, revoking its tokens, as evidence")
    func expiry() async throws {
        try await insertClient()
        try await storage.consents.insertConsent(consent("due", status: .authorised, expires: 30), audit: nil)
        try await storage.consents.insertConsent(consent("fresh", status: .authorised, expires: 3600), audit: nil)
        try await storage.consents.insertConsent(consent("used", status: .consumed, expires: 30), audit: nil)
        try await storage.tokens.insertAccessToken(token("t-due", grant: "due"), audit: nil)
        let now = t0.addingTimeInterval(60)
        #expect(try await storage.consents.updateConsent(id: "fresh") { $0.markedExpired(at: now) } == .wrongStatus(.authorised))
        #expect(try await storage.consents.updateConsent(id: "used") { $0.markedExpired(at: now) } == .wrongStatus(.consumed))
        #expect(try await storage.consents.markExpiredConsents(now: now, limit: 10) == 1)
        #expect(try await storage.consents.consent(id: "due")?.status == .expired)
        #expect(try await storage.tokens.accessToken(hash: Crypto.sha256("t-due"))?.revokedAt == now)
        let row = try #require(try await storage.audit.rows(after: 0).last)
        #expect(row.values["type"] == "consent.updated")
        #expect(ConsentEvidence.fields(of: row.values["reason"])["status"] == "expired")
        #expect(ConsentEvidence.fields(of: row.values["reason"])["was"] == "authorised")
        #expect(try await storage.consents.markExpiredConsents(now: now, limit: 10) == 0)
    }
}

/// The audit log as stored, with the row at `seq` altered in content (its hash left as it was).
struct Tampered: AuditLogReader {
    let log: MemoryAuditLog
    let seq: Int64

    func alter(_ rows: [AuditChain.Row]) -> [AuditChain.Row] {
        rows.map { row in
            guard row.seq == seq else { return row }
            var changed = row
            changed.values["user"] = "mallory"
            return changed
        }
    }

    func append(_ event: AuditEvent) async throws(StorageError) { try await log.append(event) }
    func head() async throws(StorageError) -> (seq: Int64, hash: String)? { try await log.head() }
    func rows(after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row] { alter(try await log.rows(after: after, limit: limit)) }
    func rows(since: Date, after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row] {
        alter(try await log.rows(since: since, after: after, limit: limit))
    }
    func hash(at seq: Int64) async throws(StorageError) -> String? { try await log.hash(at: seq) }
    func insertCheckpoint(seq: Int64, hash: String, jws: String, at: Date) async throws(StorageError) {
        try await log.insertCheckpoint(seq: seq, hash: hash, jws: jws, at: at)
    }
    func checkpoints() async throws(StorageError) -> [AuditCheckpointRecord] { try await log.checkpoints() }
}
