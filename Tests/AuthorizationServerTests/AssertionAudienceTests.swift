import AuthorizationServer
import Testing

@Suite("AssertionAudienceRule")
struct AssertionAudienceTests {
    static let issuer = "https://as.example"

    func accepts(_ rule: AssertionAudienceRule, _ audience: [String], asString: Bool = false, at endpoint: ClientAuthEndpoint) -> Bool {
        rule.accepts(audience, asString: asString, issuer: Self.issuer, endpoint: endpoint)
    }

    @Test("FAPI 1: the issuer, the token endpoint and the endpoint's own URL; never another endpoint's URL")
    func perEndpoint() {
        let rule = AssertionAudienceRule.issuerOrEndpoint
        for endpoint in ClientAuthEndpoint.allCases {
            #expect(accepts(rule, [Self.issuer], at: endpoint))
            #expect(accepts(rule, [Self.issuer + "/token"], at: endpoint))
            #expect(accepts(rule, [Self.issuer + endpoint.rawValue], at: endpoint))
            #expect(accepts(rule, ["https://junk.example", Self.issuer], at: endpoint))
            for other in ClientAuthEndpoint.allCases where other != endpoint && other != .token {
                #expect(!accepts(rule, [Self.issuer + other.rawValue], at: endpoint), "\(other) at \(endpoint)")
            }
            #expect(!accepts(rule, ["https://other.example"], at: endpoint))
            #expect(!accepts(rule, [], at: endpoint))
        }
    }

    @Test("FAPI 2: the issuer as a single string only")
    func issuerOnly() {
        #expect(accepts(.issuerOnly, [Self.issuer], asString: true, at: .pushedAuthorization))
        #expect(!accepts(.issuerOnly, [Self.issuer], asString: false, at: .pushedAuthorization))
        #expect(!accepts(.issuerOnly, [Self.issuer + "/par"], asString: true, at: .pushedAuthorization))
        #expect(!accepts(.issuerOnly, [Self.issuer, "https://junk.example"], at: .token))
    }
}
