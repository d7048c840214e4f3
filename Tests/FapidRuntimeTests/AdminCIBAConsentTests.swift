import AuthorizationServer
@testable import FapidRuntime
import Foundation
import JOSE
import Testing

/// The admin socket's lines for a CIBA request with a consent (issue 19, dual control): `ciba.approve` carries the
/// hash of the details shown and the typed amounts; its answer counts the approvals; a pending request's consent
/// travels with the lines to show.
@Suite("Admin protocol: CIBA consents")
struct AdminCIBAConsentTests {
    @Test("ciba.approve: id, details hash and amounts, round trip; a missing member is refused with a reason")
    func approve() throws {
        let line = #"{"op":"ciba.approve","id":"r1","details_sha256":"ab12","amounts":["250.00"],"by":"mallory"}"#
        let request = try AdminRequest.parse(Array(line.utf8)).get()
        #expect(request == .cibaApprove(id: "r1", detailsHash: "ab12", amounts: ["250.00"]))
        #expect(request.op == "ciba.approve")
        let encoded = try JSONEncoder().encode(request)
        #expect(try JSON.parseObject(Array(encoded)) == ["op": "ciba.approve", "id": "r1", "details_sha256": "ab12", "amounts": ["250.00"]])
        guard case .failure(let refusal) = AdminRequest.parse(Array(#"{"op":"ciba.approve","id":"r1","amounts":[]}"#.utf8)) else {
            Issue.record("a line without details_sha256 was accepted")
            return
        }
        #expect(refusal.description == "ciba.approve needs id, details_sha256 and amounts")
    }

    @Test("the approval answer counts approvals; it decodes back, distinct from ciba.decide's")
    func approvalAnswer() throws {
        let answer = AdminResponse.cibaApproval(by: "anna", approvals: 1, required: 2)
        #expect(try JSON.parseObject(answer.line) == ["ok": true, "by": "anna", "approvals": 1, "approvals_required": 2])
        #expect(try JSONDecoder().decode(AdminResponse.self, from: Data(answer.line)) == answer)
        #expect(try JSONDecoder().decode(AdminResponse.self, from: Data(AdminResponse.cibaDecided(by: "anna").line)) == .cibaDecided(by: "anna"))
    }

    @Test("a pending request's consent travels with its lines, amounts, hash and approvals; none is absent from the wire")
    func pendingConsent() throws {
        let summary = CIBADecisionService.ConsentSummary(
            id: "c1", lines: ["Pay 250.00 GBP to ACME Ltd"], amounts: ["250.00"], detailsHash: "ab12", approvedBy: ["anna"], approvalsRequired: 2)
        let row = AdminCIBARequest(
            CIBADecisionService.PendingRequest(
                id: "r1", clientID: "c", clientName: "Pay Fast", organisation: nil, user: "alice", scope: "openid payments", bindingMessage: "Pay",
                expiresAt: Date(timeIntervalSince1970: 1_800_000_000), consent: summary))
        let object = try JSON.parseObject(AdminResponse.cibaRequests([row]).line)
        #expect(
            object["requests"]?.arrayValue?.first?["consent"]
                == ["id": "c1", "lines": ["Pay 250.00 GBP to ACME Ltd"], "amounts": ["250.00"], "details_sha256": "ab12", "approved_by": ["anna"],
                    "approvals_required": 2])
        #expect(try JSONDecoder().decode(AdminResponse.self, from: Data(AdminResponse.cibaRequests([row]).line)) == .cibaRequests([row]))
    }

    @Test("refusals name what went wrong in words for the operator")
    func refusals() {
        #expect(AdminSocket.refusal(.alreadyApprovedBy, id: "r1") == .failure("you have approved request r1 already: another staff account must give the next approval"))
        #expect(AdminSocket.refusal(.amountMismatch, id: "r1") == .failure("the amount typed is not the amount of request r1: not approved"))
        #expect(AdminSocket.refusal(.detailsChanged, id: "r1") == .failure("the details of request r1 changed after they were shown: review it again"))
        #expect(AdminSocket.refusal(.decidedEarlier(approved: false), id: "r1") == .failure("request r1 was denied by others before this decision"))
        #expect(AdminSocket.refusal(.notPending, id: "r1") == .failure("no pending request r1"))
    }
}
