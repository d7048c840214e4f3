public import AuthorizationServer
import Foundation
import HTTPTypes
import Hummingbird
import JOSE
import Logging
import Mustache
import NIOCore

/// The services the browser-facing endpoints need.
public struct PSUServices: Sendable {
    public let authorization: AuthorizationService
    public let login: LoginService
    let interactions: Interactions

    /// `interactions` keeps the browser's progress (in the shared storage, so any instance can continue it);
    /// `clients` gives the pending request's client back.
    public init(authorization: AuthorizationService, login: LoginService, interactions: any InteractionStore, clients: any ClientStore) {
        self.authorization = authorization
        self.login = login
        self.interactions = Interactions(store: interactions, clients: clients)
    }
}

extension Endpoints {
    static let sessionCookie = "fapid_session"

    func registerPSUEndpoints(_ services: PSUServices, on router: Router<FapidRequestContext>) {
        router.get("/authorize") { request, context in
            let parameters = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { first, _ in first })
            do throws(AuthorizationError) {
                let pending = try await services.authorization.begin(parameters: parameters)
                let prompts = Set((pending.request.prompt ?? "").split(separator: " ").map(String.init))
                var session = await services.interactions.session(Self.cookie(request, Self.sessionCookie), now: Date())
                // OIDC Core §3.1.2.1 max_age: an older sign-in must be repeated.
                if let maxAge = pending.request.maxAge, let current = session, Date().timeIntervalSince(current.authTime) > TimeInterval(maxAge) {
                    session = nil
                }
                if prompts.contains("none") {
                    // OIDC Core §3.1.2.6: no page may be shown; consent is always asked here, so it is needed.
                    let error = session == nil ? OAuthError(.loginRequired, "the user is not signed in") : OAuthError(.consentRequired, "consent is needed")
                    return Self.deliver(await services.authorization.deny(pending, error: error))
                }
                let started: (id: String, Interactions.Interaction)?
                do { started = try await services.interactions.start(pending, now: Date()) } catch {
                    return Self.page(Pages.error, ["message": "The bank cannot take this request now. Please try again."], status: .serviceUnavailable)
                }
                guard let (id, interaction) = started else {
                    // More browsers than `Interactions.livePerRequestURI` opened this request_uri (CWE-400).
                    context.logger.info("authorization request opened too often", metadata: ["client_id": "\(pending.client.clientID)"])
                    return Self.page(
                        Pages.error, ["message": "This request has been opened too many times. Please return to the app and start again."],
                        status: .badRequest)
                }
                if !prompts.contains("login"), let session {
                    // A signed-in PSU goes straight to consent.
                    guard await services.interactions.signIn(id, username: session.username, authTime: session.authTime, now: Date()) else {
                        return Self.page(Pages.error, ["message": "The bank cannot take this request now. Please try again."], status: .serviceUnavailable)
                    }
                    return Self.page(Pages.consent, Self.consentValues(pending, id: id, csrf: interaction.csrf, username: session.username))
                }
                return Self.page(Pages.login, ["clientName": pending.client.name ?? pending.client.clientID, "interaction": id, "csrf": interaction.csrf])
            } catch {
                return Self.refusal(error, logger: context.logger)
            }
        }
        router.post("/authorize/login") { request, context in
            guard self.isSameOrigin(request) else {
                context.logger.info("cross-site form refused", metadata: ["origin": "\(request.headers[HTTPField.Name("Origin")!] ?? "-")",
                    "site": "\(request.headers[HTTPField.Name("Sec-Fetch-Site")!] ?? "-")"])
                return Self.page(Pages.error, ["message": "This form was not sent from this site."], status: .forbidden)
            }
            guard let form = try? await FormBody.read(request),
                let interaction = await services.interactions.get(form["interaction"], csrf: form["csrf"] ?? "", now: Date()),
                let id = form["interaction"]
            else { return Self.page(Pages.error, ["message": "This sign-in form has expired."], status: .badRequest) }
            let username = form["username"] ?? ""
            do throws(LoginService.Failure) {
                // The client's address: behind a trusted proxy the forwarded one (InteractionIDResponder.sourceAddress).
                let address = AuditContext.current?.source ?? context.remoteAddress
                let user = try await services.login.authenticate(
                    username: username, password: form["password"] ?? "", address: address, interaction: id)
                let now = Date()
                guard await services.interactions.signIn(id, username: user.username, authTime: now, now: now),
                    let session = try? await services.interactions.newSession(username: user.username, authTime: now)
                else { return Self.page(Pages.error, ["message": "This sign-in form has expired."], status: .badRequest) }
                var response = Self.page(Pages.consent, Self.consentValues(interaction.pending, id: id, csrf: interaction.csrf, username: user.username))
                response.headers[.setCookie] = "\(Self.sessionCookie)=\(session); Path=/authorize; Secure; HttpOnly; SameSite=Lax; Max-Age=\(Int(Interactions.sessionLifetime))"
                return response
            } catch {
                context.logger.info("PSU sign-in failed", metadata: ["reason": "\(error)"])
                let message: String
                let status: HTTPResponse.Status
                var retryAfter: Int?
                switch error {
                case .invalidCredentials: (message, status) = ("The username or password is not right.", .unauthorized)
                case .throttled(let seconds):
                    // CWE-307: 429 with Retry-After, as a page the PSU can read.
                    (message, status, retryAfter) = ("Too many attempts. Please wait \(Self.minutes(seconds)) and try again.", .tooManyRequests, seconds)
                case .busy: (message, status, retryAfter) = ("The bank is busy. Please try again in a moment.", .serviceUnavailable, 1)
                case .unavailable: (message, status) = ("The bank cannot check your sign-in now. Please try again.", .serviceUnavailable)
                }
                var response = Self.page(
                    Pages.login,
                    ["clientName": interaction.pending.client.name ?? interaction.pending.client.clientID, "interaction": id, "csrf": interaction.csrf,
                     "error": message, "username": username.utf8.count <= LoginService.maximumUsernameBytes ? username : ""],
                    status: status)
                if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
                return response
            }
        }
        router.post("/authorize/consent") { request, context in
            guard self.isSameOrigin(request) else { return Self.page(Pages.error, ["message": "This form was not sent from this site."], status: .forbidden) }
            guard let form = try? await FormBody.read(request), let id = form["interaction"],
                let interaction = await services.interactions.finish(id, csrf: form["csrf"] ?? "", now: Date()),
                let username = interaction.username, let authTime = interaction.authTime
            else { return Self.page(Pages.error, ["message": "This consent form has expired."], status: .badRequest) }
            let target: AuthorizationResponse
            if form["decision"] == "approve" {
                do throws(AuthorizationError) {
                    target = try await services.authorization.approve(interaction.pending, subject: username, authTime: authTime)
                } catch {
                    return Self.refusal(error, logger: context.logger)
                }
                context.logger.notice("consent given", metadata: ["client_id": "\(interaction.pending.client.clientID)", "user": "\(username)"])
            } else {
                target = await services.authorization.deny(interaction.pending, user: username)
                context.logger.notice("consent denied", metadata: ["client_id": "\(interaction.pending.client.clientID)", "user": "\(username)"])
            }
            return Self.deliver(target)
        }
    }

    /// A redirect (303, never 307: the sign-in form must not be re-posted to the client, FAPI 2 SP §5.3.1.2-10),
    /// or the form-post page.
    static func deliver(_ response: AuthorizationResponse) -> Response {
        switch response {
        case .redirect(let url):
            var redirect = Response(status: .seeOther)
            redirect.headers[.location] = url.absoluteString
            redirect.headers[.cacheControl] = "no-store"
            return redirect
        case .formPost(let action, let fields):
            let values: [String: Any] = ["action": action, "fields": fields.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] }]
            return page(Pages.formPost, values)
        }
    }

    /// Forms must come from our own pages: a cross-site `Origin` (or `Sec-Fetch-Site`) is refused, which
    /// stops login CSRF (planting an attacker's session) on top of the per-form token.
    /// Browsers that send `Sec-Fetch-Site` are judged by it (our `Referrer-Policy: no-referrer` makes them send
    /// `Origin: null` even for our own forms); older ones by `Origin`.
    func isSameOrigin(_ request: Request) -> Bool {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!] { return site == "same-origin" || site == "none" }
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return true }
        return origin == metadata.issuer || metadata.issuer.hasPrefix(origin + "/")
    }

    static func consentValues(_ pending: AuthorizationService.Pending, id: String, csrf: String, username: String) -> [String: Any] {
        var values: [String: Any] = [
            "clientName": pending.client.name ?? pending.client.clientID, "interaction": id, "csrf": csrf, "username": username,
            "permissions": pending.request.scopes.compactMap(Pages.permission),
        ]
        if let organisation = pending.client.metadata["org_name"]?.stringValue ?? pending.client.metadata["org_id"]?.stringValue {
            values["organisation"] = organisation
        }
        return values
    }

    /// The page's HTML: every value escaped per Unicode scalar, then inserted raw by the template.
    static func html(_ template: MustacheTemplate, _ values: [String: Any]) -> String {
        var values = values
        values["title"] = "Your bank"
        return template.render(values.mapValues(HTMLText.escaping))
    }

    /// The page of a browser request refused by a rate limit: 429 with `Retry-After`.
    static func throttledPage(retryAfter seconds: Int) -> Response {
        var response = page(Pages.error, ["message": "Too many requests. Please wait a moment and try again."], status: .tooManyRequests)
        response.headers[.retryAfter] = String(seconds)
        return response
    }

    /// "1 minute", "5 minutes": a wait in words, rounded up.
    static func minutes(_ seconds: Int) -> String {
        let minutes = max(1, (seconds + 59) / 60)
        return minutes == 1 ? "a minute" : "\(minutes) minutes"
    }

    /// An HTML page with the headers browser-facing pages need: no caching, no framing, no scripts. Every value
    /// is escaped per Unicode scalar (`HTMLText`) before the template inserts it raw.
    static func page(_ template: MustacheTemplate, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let html = Self.html(template, values)
        var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(string: html)))
        response.headers[.contentType] = "text/html; charset=utf-8"
        response.headers[.cacheControl] = "no-store"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'"
        return response
    }

    static func cookie(_ request: Request, _ name: String) -> String? {
        guard let header = request.headers[.cookie] else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0] == name { return String(pair[1]) }
        }
        return nil
    }
}
