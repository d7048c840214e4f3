import AuthorizationServer
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Testing

@testable import HTTPEndpoints

/// Every JSON endpoint renders its errors through `OAuthResponse.error`: one status rule, never cached,
/// `WWW-Authenticate` for the two authentication failures.
@Suite("OAuthResponse")
struct OAuthResponseTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test(
        "status, no-store and Pragma for each family of codes",
        arguments: [
            (OAuthError.Code.invalidRequest, 400), (.invalidGrant, 400), (.invalidRequestObject, 400), (.unknownUserID, 400),
            (.invalidBindingMessage, 400), (.invalidClientMetadata, 400), (.invalidSoftwareStatement, 400), (.invalidClient, 401),
            (.invalidToken, 401), (.serverError, 500), (.temporarilyUnavailable, 503),
        ])
    func rendering(code: OAuthError.Code, status: Int) {
        let response = OAuthResponse.error(OAuthError(code, "refused", detail: "for the log"), logger: Self.logger)
        #expect(response.status.code == status)
        #expect(response.headers[.cacheControl] == "no-store")
        #expect(response.headers[OAuthResponse.pragma] == "no-cache")
        #expect(response.headers[.contentType] == "application/json")
    }

    @Test("WWW-Authenticate names invalid_client and invalid_token (RFC 6749 §5.2, RFC 6750 §3), nothing else")
    func challenge() {
        func header(_ code: OAuthError.Code) -> String? {
            OAuthResponse.error(OAuthError(code, "refused"), logger: Self.logger).headers[.wwwAuthenticate]
        }
        #expect(header(.invalidClient) == #"Bearer realm="fapid", error="invalid_client""#)
        #expect(header(.invalidToken) == #"Bearer realm="fapid", error="invalid_token""#)
        #expect(header(.invalidClientMetadata) == nil)
        #expect(header(.unknownUserID) == nil)
    }

    @Test("an authorization error goes back to the client only when it carries a redirect")
    func authorizationRefusal() throws {
        let error = OAuthError(.accessDenied, "denied")
        let page = Endpoints.refusal(AuthorizationError(error: error), logger: Self.logger)
        #expect(page.status == .badRequest)
        #expect(page.headers[.contentType] == "text/html; charset=utf-8")
        let target = try #require(URL(string: "https://tpp.example/cb?error=access_denied"))
        let redirect = Endpoints.refusal(AuthorizationError(error: error, redirect: .redirect(target)), logger: Self.logger)
        #expect(redirect.status == .seeOther)
        #expect(redirect.headers[.location] == target.absoluteString)
    }
}
