@testable import HTTPEndpoints
import Testing

/// RFC 9701 §4: which `Accept` headers at `/introspect` get the signed JWT; every other keeps RFC 7662's JSON.
@Suite("IntrospectionAccept")
struct IntrospectionAcceptTests {
    @Test("the JWT media type asks for the JWT, also among others and in any case, unless weighted 0 or below application/json")
    func negotiation() {
        for accept in [
            "application/token-introspection+jwt", "Application/Token-Introspection+JWT", "application/json;q=0.5, application/token-introspection+jwt",
            "application/token-introspection+jwt; q=0.9, application/json; q=0.8", "application/json, application/token-introspection+jwt",
        ] {
            #expect(IntrospectionAccept.wantsJWT(accept), "\(accept)")
        }
        for accept in [
            nil, "", "application/json", "*/*", "application/*", "application/token-introspection+jwt;q=0",
            "application/token-introspection+jwt;q=0.2, application/json", "application/jwt", "application/token-introspection+jwtx",
        ] as [String?] {
            #expect(!IntrospectionAccept.wantsJWT(accept), "\(accept ?? "no header")")
        }
    }
}
