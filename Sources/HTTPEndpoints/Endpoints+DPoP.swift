import AuthorizationServer
import Foundation
import HTTPTypes
import Hummingbird
import JOSE

/// RFC 9449 at the edge: the `DPoP` header values handed to the core, the `DPoP-Nonce` header on answers, and
/// the resource's DPoP challenge. The rules themselves are the core's (`DPoPProofValidator`, `TokenBinding`).
extension Endpoints {
    static let dpopHeader = HTTPField.Name("DPoP")!
    static let dpopNonceHeader = HTTPField.Name("DPoP-Nonce")!

    /// The request's DPoP proofs (every header value: two headers are refused by the core), its method, and the
    /// endpoint's URL as this server names it in discovery (`htu` is compared with it).
    func dpopRequest(_ request: Request, path: String) -> DPoPRequest {
        DPoPRequest(proofs: request.headers[values: Self.dpopHeader], method: request.method.rawValue, url: metadata.endpoint(path))
    }

    /// The access token of `Authorization: DPoP <token>` (the scheme name is case-insensitive, RFC 9110 §11.1).
    static func dpopAuthorization(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "dpop" else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    /// RFC 9449 §8.1: a fresh nonce on every answer to a request that carried a proof (clients that never send
    /// one, FAPI 1 Advanced among them, see no change).
    func withDPoPNonce(_ response: Response, _ dpop: DPoPProofValidator?, proof: DPoPRequest) -> Response {
        guard let dpop, proof.hasProof || response.status == .unauthorized && Self.isDPoPChallenge(response) else { return response }
        var response = response
        response.headers[Self.dpopNonceHeader] = dpop.currentNonce()
        return response
    }

    static func isDPoPChallenge(_ response: Response) -> Bool {
        response.headers[.wwwAuthenticate]?.hasPrefix("DPoP") == true
    }
}

extension OAuthResponse {
    /// A refusal at a resource for a request that used the DPoP scheme (RFC 9449 §7.1, §9): 401 with
    /// `WWW-Authenticate: DPoP error=..., algs=...` for token and proof errors; other errors keep their status.
    static func resourceDPoPError(_ error: OAuthError) -> Response {
        let challenged: Set<OAuthError.Code> = [.invalidToken, .invalidDPoPProof, .useDPoPNonce]
        guard challenged.contains(error.code) else { return render(error) }
        var response = render(error, status: .unauthorized)
        let algorithms = DPoPSettings.algorithms.map(\.rawValue).joined(separator: " ")
        response.headers[.wwwAuthenticate] = #"DPoP error="\#(error.code.rawValue)", algs="\#(algorithms)""#
        return response
    }
}
