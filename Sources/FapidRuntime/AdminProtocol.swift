public import AuthorizationServer
import Foundation
public import JOSE

/// One request line on the admin socket (`AdminSocket` serves it, fapictl's `AdminClient` sends it): a JSON
/// object with `op`. No member names the staff member: the daemon reads the peer's account from the
/// socket (`SO_PEERCRED`), and ignores any `by` a client sends.
public enum AdminRequest: Codable, Sendable, Equatable {
    /// `{"op":"ciba.list"}`: the pending CIBA requests.
    case cibaList
    /// `{"op":"ciba.decide","id":…,"approve":…}`: approve or deny one.
    case cibaDecide(id: String, approve: Bool)
    /// `{"op":"ciba.approve","id":…,"details_sha256":…,"amounts":[…]}`: one approval of a request with a consent,
    /// naming the hash of the details the terminal was shown and each payment amount as the staff member typed it.
    case cibaApprove(id: String, detailsHash: String, amounts: [String])

    // Consents (issue 19): `fapictl consents list|show|revoke`.
    /// `{"op":"consents.list","client_id":…,"user":…,"status":…,"limit":…}` (each optional): status as of now.
    case consentsList(clientID: String?, user: String?, status: String?, limit: Int?)
    /// `{"op":"consents.show","id":…}`.
    case consentShow(id: String)
    /// `{"op":"consents.revoke","id":…}`: revoked as `staff:<peer account>`, with its tokens.
    case consentRevoke(id: String)

    /// A request line the daemon cannot serve, with the reason it answers.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    enum Key: String, CodingKey {
        case op, id, approve, amounts
        case detailsHash = "details_sha256"
        case clientID = "client_id", user, status, limit
    }

    /// The request's `op`, for log lines.
    public var op: String {
        switch self {
        case .cibaList: "ciba.list"
        case .cibaDecide: "ciba.decide"
        case .cibaApprove: "ciba.approve"
        case .consentsList: "consents.list"
        case .consentShow: "consents.show"
        case .consentRevoke: "consents.revoke"
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        let op = try container.decode(String.self, forKey: .op)
        switch op {
        case "ciba.list":
            self = .cibaList
        case "ciba.decide":
            guard let id = try? container.decode(String.self, forKey: .id), let approve = try? container.decode(Bool.self, forKey: .approve) else {
                throw Refusal(description: "ciba.decide needs id and approve")
            }
            self = .cibaDecide(id: id, approve: approve)
        case "ciba.approve":
            guard let id = try? container.decode(String.self, forKey: .id), let hash = try? container.decode(String.self, forKey: .detailsHash),
                let amounts = try? container.decode([String].self, forKey: .amounts), amounts.count <= 64
            else { throw Refusal(description: "ciba.approve needs id, details_sha256 and amounts") }
            self = .cibaApprove(id: id, detailsHash: hash, amounts: amounts)
        case "consents.list":
            do {
                self = .consentsList(
                    clientID: try container.decodeIfPresent(String.self, forKey: .clientID),
                    user: try container.decodeIfPresent(String.self, forKey: .user),
                    status: try container.decodeIfPresent(String.self, forKey: .status), limit: try container.decodeIfPresent(Int.self, forKey: .limit))
            } catch {
                throw Refusal(description: "consents.list takes strings client_id, user, status and an integer limit")
            }
        case "consents.show", "consents.revoke":
            guard let id = try? container.decode(String.self, forKey: .id) else { throw Refusal(description: "\(op) needs id") }
            self = op == "consents.show" ? .consentShow(id: id) : .consentRevoke(id: id)
        default:
            throw Refusal(description: "unknown op \(op)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(op, forKey: .op)
        if case .cibaDecide(let id, let approve) = self {
            try container.encode(id, forKey: .id)
            try container.encode(approve, forKey: .approve)
        }
        switch self {
        case .consentsList(let clientID, let user, let status, let limit):
            try container.encodeIfPresent(clientID, forKey: .clientID)
            try container.encodeIfPresent(user, forKey: .user)
            try container.encodeIfPresent(status, forKey: .status)
            try container.encodeIfPresent(limit, forKey: .limit)
        case .consentShow(let id), .consentRevoke(let id):
            try container.encode(id, forKey: .id)
        case .cibaApprove(let id, let hash, let amounts):
            try container.encode(id, forKey: .id)
            try container.encode(hash, forKey: .detailsHash)
            try container.encode(amounts, forKey: .amounts)
        default:
            break
        }
    }

    /// Parses one line: the request, or the reason it is refused (`not a JSON request` when it is not an
    /// object with a string `op`).
    public static func parse(_ line: [UInt8]) -> Result<AdminRequest, Refusal> {
        // The project's strict parser first: duplicate member names are refused, not resolved.
        guard (try? JSON.parseObject(line)) != nil else { return .failure(Refusal(description: "not a JSON request")) }
        do {
            return .success(try JSONDecoder().decode(AdminRequest.self, from: Data(line)))
        } catch let refusal as Refusal {
            return .failure(refusal)
        } catch {
            return .failure(Refusal(description: "not a JSON request"))
        }
    }
}

/// One answer line on the admin socket: `{"ok":true,…}` with the request's result, or `{"ok":false,"error":…}`.
public enum AdminResponse: Codable, Sendable, Equatable {
    /// `{"ok":true,"requests":[…]}`, the answer to `ciba.list`.
    case cibaRequests([AdminCIBARequest])
    /// `{"ok":true,"by":…}`, the answer to `ciba.decide`: the account the decision was recorded under.
    case cibaDecided(by: String)
    /// `{"ok":true,"by":…,"approvals":…,"approvals_required":…}`, the answer to `ciba.approve`: the approval was
    /// recorded under `by`; the request is approved once `approvals` reaches `approvals_required`.
    case cibaApproval(by: String, approvals: Int, required: Int)
    /// `{"ok":true,"consents":[…]}`, the answer to `consents.list` and `consents.show` (one): each consent as
    /// `ConsentAdministration.json` writes it.
    case consents([JSON])
    /// `{"ok":true,"consent":{…},"by":…}`, the answer to `consents.revoke`: the consent as revoked, and the account
    /// (`staff:<peer account>`) it was revoked as.
    case consentRevoked(JSON, by: String)
    /// `{"ok":false,"error":…}`: one line for the operator.
    case failure(String)

    enum Key: String, CodingKey {
        case ok, requests, by, error, approvals
        case approvalsRequired = "approvals_required"
        case consents, consent
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        guard try container.decode(Bool.self, forKey: .ok) else {
            self = .failure(try container.decodeIfPresent(String.self, forKey: .error) ?? "the daemon refused the request")
            return
        }
        if let consents = try container.decodeIfPresent([JSON].self, forKey: .consents) {
            self = .consents(consents)
        } else if let consent = try container.decodeIfPresent(JSON.self, forKey: .consent) {
            self = .consentRevoked(consent, by: try container.decode(String.self, forKey: .by))
        } else if let requests = try container.decodeIfPresent([AdminCIBARequest].self, forKey: .requests) {
            self = .cibaRequests(requests)
        } else if let required = try container.decodeIfPresent(Int.self, forKey: .approvalsRequired) {
            self = .cibaApproval(
                by: try container.decode(String.self, forKey: .by), approvals: try container.decode(Int.self, forKey: .approvals), required: required)
        } else {
            self = .cibaDecided(by: try container.decode(String.self, forKey: .by))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        switch self {
        case .cibaRequests(let requests):
            try container.encode(true, forKey: .ok)
            try container.encode(requests, forKey: .requests)
        case .cibaDecided(let by):
            try container.encode(true, forKey: .ok)
            try container.encode(by, forKey: .by)
        case .cibaApproval(let by, let approvals, let required):
            try container.encode(true, forKey: .ok)
            try container.encode(by, forKey: .by)
            try container.encode(approvals, forKey: .approvals)
            try container.encode(required, forKey: .approvalsRequired)
        case .consents(let consents):
            try container.encode(true, forKey: .ok)
            try container.encode(consents, forKey: .consents)
        case .consentRevoked(let consent, let by):
            try container.encode(true, forKey: .ok)
            try container.encode(consent, forKey: .consent)
            try container.encode(by, forKey: .by)
        case .failure(let reason):
            try container.encode(false, forKey: .ok)
            try container.encode(reason, forKey: .error)
        }
    }

    /// The answer as one line, without its newline.
    public var line: [UInt8] {
        // Encoding these cases cannot fail: strings, booleans, integers and JSON values only.
        (try? [UInt8](JSONEncoder().encode(self))) ?? Array(#"{"ok":false,"error":"the request failed"}"#.utf8)
    }
}

/// A pending CIBA request on the wire (`CIBADecisionService.PendingRequest`); absent values are `null`.
public struct AdminCIBARequest: Codable, Sendable, Equatable {
    public let id: String
    public let clientID: String
    public let clientName: String?
    public let organisation: String?
    public let user: String
    public let scope: String
    public let bindingMessage: String?
    /// Unix seconds.
    public let expiresAt: Int64
    /// The consent the request asks for (`authorization_details`); absent from the wire when it has none.
    public let consent: AdminCIBAConsent?

    enum Key: String, CodingKey {
        case id, user, scope
        case clientID = "client_id"
        case clientName = "client_name"
        case organisation = "org"
        case bindingMessage = "binding_message"
        case expiresAt = "expires_at"
        case consent
    }

    public init(_ pending: CIBADecisionService.PendingRequest) {
        id = pending.id
        clientID = pending.clientID
        clientName = pending.clientName
        organisation = pending.organisation
        user = pending.user
        scope = pending.scope
        bindingMessage = pending.bindingMessage
        expiresAt = Int64(pending.expiresAt.timeIntervalSince1970)
        consent = pending.consent.map(AdminCIBAConsent.init)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        id = try container.decode(String.self, forKey: .id)
        clientID = try container.decode(String.self, forKey: .clientID)
        clientName = try container.decodeIfPresent(String.self, forKey: .clientName)
        organisation = try container.decodeIfPresent(String.self, forKey: .organisation)
        user = try container.decode(String.self, forKey: .user)
        scope = try container.decode(String.self, forKey: .scope)
        bindingMessage = try container.decodeIfPresent(String.self, forKey: .bindingMessage)
        expiresAt = try container.decode(Int64.self, forKey: .expiresAt)
        consent = try container.decodeIfPresent(AdminCIBAConsent.self, forKey: .consent)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(id, forKey: .id)
        try container.encode(clientID, forKey: .clientID)
        // Written as null when absent, as the wire always had them.
        try container.encode(clientName, forKey: .clientName)
        try container.encode(organisation, forKey: .organisation)
        try container.encode(user, forKey: .user)
        try container.encode(scope, forKey: .scope)
        try container.encode(bindingMessage, forKey: .bindingMessage)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encodeIfPresent(consent, forKey: .consent)
    }
}

/// A pending request's consent on the wire (`CIBADecisionService.ConsentSummary`): the plain-words lines and
/// amounts the terminal shows (not escaped: the terminal escapes them), the hash it echoes back, and the
/// approvals so far.
public struct AdminCIBAConsent: Codable, Sendable, Equatable {
    public let id: String
    public let lines: [String]
    public let amounts: [String]
    public let detailsHash: String
    public let approvedBy: [String]
    public let approvalsRequired: Int

    enum CodingKeys: String, CodingKey {
        case id, lines, amounts
        case detailsHash = "details_sha256"
        case approvedBy = "approved_by"
        case approvalsRequired = "approvals_required"
    }

    public init(_ summary: CIBADecisionService.ConsentSummary) {
        id = summary.id
        lines = summary.lines
        amounts = summary.amounts
        detailsHash = summary.detailsHash
        approvedBy = summary.approvedBy
        approvalsRequired = summary.approvalsRequired
    }
}
