@testable import FapidRuntime
import Foundation
import Testing

@Suite("AdminSocket")
struct AdminSocketTests {
    @Test("the approver is named from the user database, or uid:N when the uid has no account")
    func accountNames() {
        #expect(AdminSocket.accountName(uid: 0) == "root")
        #expect(AdminSocket.accountName(uid: 3_999_999_999) == "uid:3999999999")
    }

    @Test("admin_socket_group names a group; an unknown one is an error")
    func groups() throws {
        #expect(try AdminSocket.groupID(named: "root") == 0)
        #expect(throws: AdminSocket.Failure.self) { _ = try AdminSocket.groupID(named: "no-such-group-fapid") }
    }

    @Test("admin_socket_group: default none, set from the environment, refused when it is not a group name")
    func setting() throws {
        #expect(try FapidConfiguration.load(file: nil, environment: [:]).adminSocketGroup == nil)
        #expect(try FapidConfiguration.load(file: nil, environment: ["FAPID_ADMIN_SOCKET_GROUP": "ciba-staff"]).adminSocketGroup == "ciba-staff")
        for bad in ["-staff", "staff;rm", "st aff", String(repeating: "s", count: 33)] {
            #expect(throws: ConfigurationError.self) { _ = try FapidConfiguration.load(file: nil, environment: ["FAPID_ADMIN_SOCKET_GROUP": bad]) }
        }
    }
}
