import HTTPTypes
import Testing

@testable import HTTPEndpoints

/// Which requests the rate-limit middleware looks at: the endpoint a path routes to (`RequestMetrics.endpoint`,
/// respellings folded) must be one it knows, or the request escapes throttling as `other`.
@Suite("Rate-limited paths")
struct RateLimitedPathsTests {
    @Test("POST /consents (resource servers' intents) is limited like /introspect, respelled paths too")
    func consentsLimited() {
        for path in ["/consents", "/consents/", "//consents"] {
            let endpoint = RequestMetrics.endpoint(path)
            #expect(endpoint == "/consents" && RateLimits.paths.contains(endpoint), "\(path)")
        }
        #expect(RateLimits.paths.contains(RequestMetrics.endpoint("/introspect")))
    }

    @Test("POST /account/consents/login reaches the sign-in limiter")
    func accountSignInLimited() throws {
        let signIn = try #require(RateLimiter(rate: 1, burst: 1))
        let limits = RateLimits(perClient: nil, perAddress: nil, signIn: signIn)
        let endpoint = RequestMetrics.endpoint("/account/consents/login")
        #expect(limits.browser(method: .post, endpoint: endpoint) === signIn)
    }
}
