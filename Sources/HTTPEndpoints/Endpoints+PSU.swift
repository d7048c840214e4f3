public import AuthorizationServer
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore
import JOSE

/// The services the browser-facing endpoints need: the core's PSU interaction service.
public struct PSUServices: Sendable {
    let interactions: InteractionService
    /// The signed-in customer's consents at `/account/consents` (not served without it).
    let accounts: AccountConsentService?

    public init(interactions: InteractionService, accounts: AccountConsentService? = nil) {
        self.interactions = interactions
        self.accounts = accounts
    }

    /// The same services with `/account/consents`, on the same sign-in and session store as the consent flow.
    public func withAccounts(consents: any ConsentStore, clients: any ClientStore, clock: any WallClock) -> PSUServices {
        PSUServices(interactions: interactions, accounts: AccountConsentService(interactions: interactions, consents: consents, clients: clients, clock: clock))
    }
}

extension Endpoints {
    static let sessionCookie = "fapid_session"

    /// Thin adapters: each route reads its query or form, asks `InteractionService`, and renders the page or
    /// the redirect it answers.
    func registerPSUEndpoints(_ services: PSUServices, on router: Router<FapidRequestContext>) {
        router.get("/authorize") { request, context in
            let parameters = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { first, _ in first })
            do throws(AuthorizationError) {
                switch try await services.interactions.open(parameters: parameters, session: Self.cookie(request, Self.sessionCookie)) {
                case .answered(let response):
                    return Self.deliver(response)
                case .unavailable:
                    return Self.page(Pages.error, ["message": "The bank cannot take this request now. Please try again."], status: .serviceUnavailable)
                case .openedTooOften:
                    context.logger.info("authorization request opened too often", metadata: ["client_id": "\(parameters["client_id"] ?? "-")"])
                    return Self.page(
                        Pages.error, ["message": "This request has been opened too many times. Please return to the app and start again."],
                        status: .badRequest)
                case .consent(let interaction, let username):
                    return Self.page(
                        Pages.consent, Self.consentValues(interaction, username: username, shown: await services.interactions.presentation(interaction)))
                case .signIn(let interaction):
                    return Self.page(Pages.login, Self.loginValues(interaction))
                }
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
            guard let form = try? await FormBody.read(request) else {
                return Self.page(Pages.error, ["message": "This sign-in form has expired."], status: .badRequest)
            }
            let username = form["username"] ?? ""
            // The client's address: behind a trusted proxy the forwarded one (InteractionIDResponder.sourceAddress).
            let address = AuditContext.current?.source ?? context.remoteAddress
            switch await services.interactions.signIn(
                interaction: form["interaction"], csrf: form["csrf"] ?? "", username: username, password: form["password"] ?? "", address: address)
            {
            case .expired:
                return Self.page(Pages.error, ["message": "This sign-in form has expired."], status: .badRequest)
            case .signedIn(let interaction, let username, let session):
                var response = Self.page(
                    Pages.consent, Self.consentValues(interaction, username: username, shown: await services.interactions.presentation(interaction)))
                response.headers[.setCookie] =
                    "\(Self.sessionCookie)=\(session); Path=/authorize; Secure; HttpOnly; SameSite=Lax; Max-Age=\(Int(services.interactions.settings.sessionLifetime))"
                return response
            case .refused(let interaction, let error):
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
                var values = Self.loginValues(interaction)
                values["error"] = message
                values["username"] = username.utf8.count <= LoginService.maximumUsernameBytes ? username : ""
                var response = Self.page(Pages.login, values, status: status)
                if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
                return response
            }
        }
        router.post("/authorize/consent") { request, context in
            guard self.isSameOrigin(request) else { return Self.page(Pages.error, ["message": "This form was not sent from this site."], status: .forbidden) }
            guard let form = try? await FormBody.read(request) else {
                return Self.page(Pages.error, ["message": "This consent form has expired."], status: .badRequest)
            }
            do throws(AuthorizationError) {
                switch try await services.interactions.decide(
                    interaction: form["interaction"], csrf: form["csrf"] ?? "", approve: form["decision"] == "approve",
                    shownDetailsHash: form["details_hash"])
                {
                case .expired:
                    return Self.page(Pages.error, ["message": "This consent form has expired."], status: .badRequest)
                case .answered(let response, let interaction, let username, let approved):
                    context.logger.notice(
                        approved ? "consent given" : "consent denied",
                        metadata: ["client_id": "\(interaction.pending.client.clientID)", "user": "\(username)"])
                    return Self.deliver(response)
                }
            } catch {
                // Back to the client when it may be (an essential acr not reached), an error page otherwise.
                return Self.refusal(error, logger: context.logger)
            }
        }
        if let accounts = services.accounts { registerAccountEndpoints(accounts, on: router) }
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

    /// The sign-in page's values: who asks, and the interaction the form continues.
    static func loginValues(_ interaction: InteractionService.Interaction) -> [String: Any] {
        let client = interaction.pending.client
        return ["clientName": client.name ?? client.clientID, "interaction": interaction.id, "csrf": interaction.csrf]
    }

    /// `shown`: the consent's details (`InteractionService.presentation`); the form carries their hash back.
    static func consentValues(_ interaction: InteractionService.Interaction, username: String, shown: ConsentPresentation? = nil) -> [String: Any] {
        let pending = interaction.pending
        var values: [String: Any] = [
            "clientName": pending.client.name ?? pending.client.clientID, "interaction": interaction.id, "csrf": interaction.csrf, "username": username,
            "permissions": pending.request.scopes.compactMap(Pages.permission),
        ]
        if let organisation = pending.client.metadata["org_name"]?.stringValue ?? pending.client.metadata["org_id"]?.stringValue {
            values["organisation"] = organisation
        }
        if let shown {
            // RFC 9396 details in plain words (`ConsentDisplay.lines`), escaped with every value by `page`; never JSON.
            // The form carries back the hash of exactly these details (PSD2 RTS Art. 5 dynamic linking).
            values["detailsHash"] = shown.detailsHash
            let lines = ConsentDisplay.lines(shown.details)
            if !lines.isEmpty {
                values["details"] = lines
                values["hasDetails"] = true
            }
            switch shown.action {
            case .merge?: values["update"] = "This adds to the access you gave \(pending.client.name ?? pending.client.clientID) before."
            case .replace?: values["update"] = "This replaces the access you gave \(pending.client.name ?? pending.client.clientID) before."
            case .create?, nil: break
            }
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
