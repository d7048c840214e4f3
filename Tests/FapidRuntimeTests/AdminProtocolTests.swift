import AuthorizationServer
@testable import FapidRuntime
import Foundation
import JOSE
import Logging
import TestSupport
import Testing

@Suite("AdminProtocol")
struct AdminProtocolTests {
    func parse(_ text: String) -> Result<AdminRequest, AdminRequest.Refusal> { AdminRequest.parse(Array(text.utf8)) }

    func refusal(_ text: String) -> String? {
        if case .failure(let refusal) = parse(text) { return refusal.description }
        return nil
    }

    @Test("requests: the JSON lines fapictl always sent; a `by` member is ignored")
    func requests() throws {
        #expect(try parse(#"{"op":"ciba.list"}"#).get() == .cibaList)
        #expect(try parse(#"{"op":"ciba.decide","id":"r1","approve":true,"by":"mallory"}"#).get() == .cibaDecide(id: "r1", approve: true))
        for request in [AdminRequest.cibaList, .cibaDecide(id: "r1", approve: false)] {
            let line = try [UInt8](JSONEncoder().encode(request))
            #expect(try AdminRequest.parse(line).get() == request)
            #expect(try JSON.parseObject(line)["op"]?.stringValue == request.op)
        }
    }

    @Test("malformed requests are refused with a reason")
    func refusals() {
        #expect(refusal("hello") == "not a JSON request")
        #expect(refusal(#"{"op":5}"#) == "not a JSON request")
        #expect(refusal(#"{"op":"ciba.list","op":"ciba.list"}"#) == "not a JSON request", "duplicate members are refused")
        #expect(refusal(#"{"op":"ciba.decide","id":"r1"}"#) == "ciba.decide needs id and approve")
        #expect(refusal(#"{"op":"ciba.decide","id":7,"approve":true}"#) == "ciba.decide needs id and approve")
        #expect(refusal(#"{"op":"clients.remove"}"#) == "unknown op clients.remove")
    }

    @Test("responses: ok with the result, or ok false with the error; absent values travel as null")
    func responses() throws {
        let row = AdminCIBARequest(
            CIBADecisionService.PendingRequest(
                id: "r1", clientID: "c1", clientName: nil, organisation: "TPP Ltd", user: "alice", scope: "openid", bindingMessage: nil,
                expiresAt: Date(timeIntervalSince1970: 1_800_000_300)))
        let list = AdminResponse.cibaRequests([row])
        let object = try JSON.parseObject(list.line)
        #expect(object["ok"] == true)
        #expect(
            object["requests"]
                == [[
                    "id": "r1", "client_id": "c1", "client_name": .null, "org": "TPP Ltd", "user": "alice", "scope": "openid",
                    "binding_message": .null, "expires_at": 1_800_000_300,
                ]])
        #expect(try JSON.parseObject(AdminResponse.cibaDecided(by: "staff1").line) == ["ok": true, "by": "staff1"])
        #expect(try JSON.parseObject(AdminResponse.failure("no pending request r9").line) == ["ok": false, "error": "no pending request r9"])
        for response in [list, .cibaDecided(by: "staff1"), .failure("no")] {
            #expect(try JSONDecoder().decode(AdminResponse.self, from: Data(response.line)) == response)
        }
        #expect(try JSONDecoder().decode(AdminResponse.self, from: Data(#"{"ok":false}"#.utf8)) == .failure("the daemon refused the request"))
    }

    @Test("the socket's handler: a refused line is answered, not dropped")
    func handler() async throws {
        let fixture = try CoreServiceFixture("admin-protocol")
        var logger = Logging.Logger(label: "admin")
        logger.logLevel = .critical
        let socket = AdminSocket(
            path: fixture.directory.path("fapid.sock"), ciba: CIBADecisionService(store: fixture.storage.ciba, clients: fixture.storage.clients, clock: fixture.clock),
            logger: logger)
        #expect(await socket.handle(Array("nonsense".utf8), staff: "staff1") == .failure("not a JSON request"))
        #expect(await socket.handle(.cibaList, staff: "staff1") == .cibaRequests([]))
        #expect(await socket.handle(.cibaDecide(id: "r1", approve: true), staff: "staff1") == .failure("no pending request r1"))
    }
}
