public import Foundation
public import JOSE

/// The bank's view of consents (`fapictl consents list|show|revoke`, through the daemon's admin socket) and the
/// evidence of one consent (`fapictl audit export --consent`): reads by status as of now, revocation by a staff
/// account with every token of the consent in the same transaction (`Consent.revoked`), and the export of what
/// the audit chain proves about it.
public struct ConsentAdministration: Sendable {
    let consents: any ConsentStore
    let clock: any WallClock

    /// The most consents one listing returns.
    public static let maximumListing = 1000

    public init(consents: any ConsentStore, clock: any WallClock) {
        self.consents = consents
        self.clock = clock
    }

    /// Consents of `clientID` and/or `subject` (nil: any), in `status` as of now (nil: any), newest first, at most
    /// `limit` (bounded by `maximumListing`).
    public func list(clientID: String?, subject: String?, status: Consent.Status?, limit: Int) async throws(StorageError) -> [Consent] {
        try await consents.consents(
            ConsentFilter(clientID: clientID, subject: subject, status: status, limit: min(max(0, limit), Self.maximumListing), asOf: clock.now()))
    }

    public func consent(id: String) async throws(StorageError) -> Consent? {
        try await consents.consent(id: id)
    }

    /// What a staff revocation came to.
    public enum Revocation: Sendable, Equatable {
        /// Revoked, with its tokens; the consent as written.
        case revoked(Consent)
        case unknown
        /// Not awaiting or authorised (as of now): its status.
        case notRevocable(Consent.Status)
    }

    /// Revokes consent `id` as `staff:<account>` (the admin socket peer's account, `SO_PEERCRED`): its access and
    /// refresh tokens are revoked and `consent.revoked` is appended in the same transaction.
    public func revoke(id: String, staff account: String) async throws(StorageError) -> Revocation {
        let now = clock.now()
        switch try await consents.updateConsent(id: id, { $0.revoked(by: "staff:\(account)", at: now, context: nil) }) {
        case nil: return .unknown
        case .done(let consent)?: return .revoked(consent)
        case .wrongStatus(let status)?: return .notRevocable(status)
        case .some:
            // `revoked` decides only done or wrongStatus; were it to answer otherwise, nothing was changed.
            return .notRevocable(try await consents.consent(id: id)?.status(at: now) ?? .revoked)
        }
    }

    /// The evidence of consent `id` (nil when there is none), read from `audit` up to its head: the consent with the
    /// hashes of its request and of its current details, its certificate and the status answer stored with it,
    /// every audit row whose reason names it (`ConsentEvidence.fields`), and whether the chain verifies from its
    /// first row through the last of those (`AuditLogReader.walkChain`, the walk of `fapictl audit verify`).
    public func evidence(id: String, audit: any AuditLogReader) async throws(StorageError) -> JSON? {
        guard let consent = try await consents.consent(id: id) else { return nil }
        let now = clock.now()
        let head = try await audit.head()
        let end = head?.seq ?? 0
        // Only the matching rows are kept; the walk itself pages by seq.
        var matching: [AuditChain.Row] = []
        let (verifier, problem) = try await audit.walkChain(through: end, pastProblems: true) { row in
            if Self.isEvidence(row, of: id) { matching.append(row) }
        }
        let through = matching.last?.seq ?? 0
        // Intact through the last row of the consent: no problem at or before it (a later one is reported apart).
        let verified = problem.map { $0.seq > through } ?? (through <= verifier.lastSeq)
        var chain: [String: JSON] = [
            "verified": .bool(verified), "verified_through_seq": .int(through), "head_seq": .int(end),
            "rows_checked": .int(verifier.lastSeq),
        ]
        let tail = problem ?? verifier.finish(head: head)
        chain["problem"] = tail.map { .object(["seq": .int($0.seq), "reason": .string($0.reason)]) } ?? .null
        var evidence = Self.json(consent, now: now).objectValue ?? [:]
        evidence["certificate"] = .object([
            "x5t#S256": consent.certificateThumbprint.map(JSON.string) ?? .null, "status": consent.certificateStatus.map(JSON.string) ?? .null,
        ])
        return .object([
            "consent": .object(evidence),
            "audit": .array(matching.map(Self.json)),
            "chain": .object(chain),
        ])
    }

    /// `json(consent, now:)` as of this service's clock.
    public func json(_ consent: Consent) -> JSON { Self.json(consent, now: clock.now()) }

    /// One consent as `fapictl consents list --json` and `show --json` print it (and the admin socket sends it):
    /// times in Unix seconds, `status` as of `now`, `stored_status` as stored, absent values as null.
    public static func json(_ consent: Consent, now: Date) -> JSON {
        func seconds(_ date: Date?) -> JSON { date.map { .int(Int64($0.timeIntervalSince1970.rounded(.down))) } ?? .null }
        func text(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
        return .object([
            "consent_id": .string(consent.id), "client_id": .string(consent.clientID), "user": text(consent.subject), "type": .string(consent.type),
            "status": .string(consent.status(at: now).rawValue), "stored_status": .string(consent.status.rawValue),
            "origin": .string(consent.origin.rawValue), "scope": .string(consent.scope), "authorization_details": consent.authorizationDetails,
            "created_at": seconds(consent.createdAt), "updated_at": seconds(consent.updatedAt), "authorised_at": seconds(consent.authorisedAt),
            "expires_at": seconds(consent.expiresAt), "decided_by": text(consent.decidedBy), "acr": text(consent.acr),
            "amr": .array(consent.amr.map(JSON.string)),
            "approvals": .array(
                consent.approvals.map { .object(["by": .string($0.by), "at": seconds($0.at), "details_sha256": .string($0.detailsHash)]) }),
            "approvals_required": .int(Int64(consent.approvalsRequired)),
            "request_sha256": text(consent.requestHash), "details_sha256": .string(ConsentEvidence.detailsHash(consent.authorizationDetails)),
            "x5t#S256": text(consent.certificateThumbprint), "certificate_status": text(consent.certificateStatus),
        ])
    }

    /// The kinds of audit row that can be evidence of a consent: only these reasons are built by the server
    /// (`ConsentEvidence.reason`). Another row's reason may hold client-chosen text (a requested scope such as
    /// `x consent=VICTIM` in `token.issued`), which must not pad another consent's evidence.
    static let evidencePrefixes = ["consent.", "ciba."]

    /// Whether `row` is evidence of consent `id`: a `consent.*` or `ciba.*` row whose reason names it.
    static func isEvidence(_ row: AuditChain.Row, of id: String) -> Bool {
        guard let type = row.values["type"], evidencePrefixes.contains(where: { type.hasPrefix($0) }) else { return false }
        return ConsentEvidence.fields(of: row.values["reason"])["consent"] == id
    }

    /// One audit row of the evidence: its fields as stored and hashed, the reason's `key=value` fields, its links.
    static func json(_ row: AuditChain.Row) -> JSON {
        var object: [String: JSON] = ["seq": .int(row.seq), "hash": .string(row.hash), "prev_hash": .string(row.previousHash)]
        for key in AuditChain.fields where key != "seq" { object[key] = row.values[key].map(JSON.string) ?? .null }
        object["reason_fields"] = .object(ConsentEvidence.fields(of: row.values["reason"]).mapValues(JSON.string))
        return .object(object)
    }
}
