import AuthorizationServer
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenSSLKit

extension Endpoints {
    /// The dashboard's session cookie: its own name, scoped to `/account`, `SameSite=Strict` (it is never needed on a
    /// cross-site navigation); the value names a PSU session in the same store as the authorization flow's.
    static let accountCookie = "fapid_account"
    /// The sign-in form's token, also set as a cookie (double submit): a cross-site page cannot read the cookie, so
    /// it cannot post a sign-in that plants its own session (login CSRF), on top of the same-origin check.
    static let accountLoginCookie = "fapid_account_login"

    /// `/account/consents`: the signed-in customer's consents with a Withdraw button each (PSR Art. 43 style).
    /// Without a session: the sign-in page, which comes back here. Every form is same-origin and carries a CSRF
    /// token; the sign-in is rate-limited like the authorization flow's (`RateLimits.signIn`) and throttled per user
    /// (`LoginService`).
    func registerAccountEndpoints(_ accounts: AccountConsentService, on router: Router<FapidRequestContext>) {
        router.get("/account/consents") { request, context in
            guard let session = await accounts.session(Self.cookie(request, Self.accountCookie)) else {
                return Self.accountSignInPage(accounts, error: nil, username: "")
            }
            return await Self.accountPage(accounts, session: session, logger: context.logger)
        }
        router.post("/account/consents/login") { request, context in
            guard self.isSameOrigin(request) else { return Self.page(Pages.error, ["message": "This form was not sent from this site."], status: .forbidden) }
            guard let form = try? await FormBody.read(request), let expected = Self.cookie(request, Self.accountLoginCookie),
                Crypto.constantTimeEqual(form["csrf"] ?? "", expected)
            else { return Self.accountSignInPage(accounts, error: "This sign-in form has expired. Please sign in again.", username: "", status: .badRequest) }
            let username = form["username"] ?? ""
            let address = AuditContext.current?.source ?? context.remoteAddress
            do throws(LoginService.Failure) {
                let session = try await accounts.signIn(username: username, password: form["password"] ?? "", address: address)
                // Post/redirect/get: the dashboard is loaded with the new cookie.
                var response = Response(status: .seeOther)
                response.headers[.location] = "/account/consents"
                response.headers[.cacheControl] = "no-store"
                response.headers[.setCookie] =
                    "\(Self.accountCookie)=\(session); Path=/account; Secure; HttpOnly; SameSite=Strict; Max-Age=\(Int(accounts.sessionLifetime))"
                return response
            } catch {
                context.logger.info("account sign-in failed", metadata: ["reason": "\(error)"])
                let kept = username.utf8.count <= LoginService.maximumUsernameBytes ? username : ""
                switch error {
                case .invalidCredentials: return Self.accountSignInPage(accounts, error: "The username or password is not right.", username: kept, status: .unauthorized)
                case .throttled(let seconds):
                    var response = Self.accountSignInPage(
                        accounts, error: "Too many attempts. Please wait \(Self.minutes(seconds)) and try again.", username: kept, status: .tooManyRequests)
                    response.headers[.retryAfter] = String(seconds)
                    return response
                case .busy:
                    var response = Self.accountSignInPage(accounts, error: "The bank is busy. Please try again in a moment.", username: kept, status: .serviceUnavailable)
                    response.headers[.retryAfter] = "1"
                    return response
                case .unavailable:
                    return Self.accountSignInPage(accounts, error: "The bank cannot check your sign-in now. Please try again.", username: kept, status: .serviceUnavailable)
                }
            }
        }
        router.post("/account/consents/withdraw") { request, context in
            guard self.isSameOrigin(request) else { return Self.page(Pages.error, ["message": "This form was not sent from this site."], status: .forbidden) }
            guard let session = await accounts.session(Self.cookie(request, Self.accountCookie)) else {
                return Self.accountSignInPage(accounts, error: "Please sign in again.", username: "", status: .unauthorized)
            }
            guard let form = try? await FormBody.read(request) else {
                return Self.page(Pages.error, ["message": "This form has expired."], status: .badRequest)
            }
            let outcome: AccountConsentService.Withdrawal
            do { outcome = try await accounts.withdraw(id: form["consent"] ?? "", csrf: form["csrf"] ?? "", session: session) } catch {
                context.logger.error("consent withdrawal failed", metadata: ["reason": "\(error)"])
                return Self.page(Pages.error, ["message": "The bank cannot withdraw this consent now. Please try again."], status: .serviceUnavailable)
            }
            switch outcome {
            case .forged: return Self.page(Pages.error, ["message": "This form has expired."], status: .forbidden)
            case .unknown:
                return await Self.accountPage(accounts, session: session, notice: "That consent is not one you can withdraw.", status: .notFound, logger: context.logger)
            case .withdrawn:
                context.logger.notice("consent withdrawn by the customer", metadata: ["user": "\(session.username)"])
                var response = Response(status: .seeOther)
                response.headers[.location] = "/account/consents"
                response.headers[.cacheControl] = "no-store"
                return response
            }
        }
    }

    /// The sign-in page of the dashboard, with a fresh form token set as its cookie.
    static func accountSignInPage(
        _ accounts: AccountConsentService, error: String?, username: String, status: HTTPResponse.Status = .ok
    ) -> Response {
        let token = accounts.signInFormToken()
        var values: [String: Any] = ["csrf": token, "username": username]
        if let error { values["error"] = error }
        var response = page(Pages.accountSignIn, values, status: status)
        response.headers[.setCookie] = "\(accountLoginCookie)=\(token); Path=/account; Secure; HttpOnly; SameSite=Strict; Max-Age=600"
        return response
    }

    /// The dashboard: each consent with its client's name, its lines, dates and status, every value escaped.
    static func accountPage(
        _ accounts: AccountConsentService, session: AccountConsentService.Session, notice: String? = nil, status: HTTPResponse.Status = .ok,
        logger: Logger
    ) async -> Response {
        let entries: [AccountConsentService.Entry]
        do { entries = try await accounts.consents(of: session) } catch {
            logger.error("consent list failed", metadata: ["reason": "\(error)"])
            return page(Pages.error, ["message": "The bank cannot show your consents now. Please try again."], status: .serviceUnavailable)
        }
        var values: [String: Any] = [
            "username": session.username, "csrf": session.csrf,
            "consents": entries.map { entry -> [String: Any] in
                var row: [String: Any] = [
                    "id": entry.id, "clientName": entry.clientName, "lines": entry.lines, "status": statusWords(entry.status),
                    "created": day(entry.createdAt), "expires": day(entry.expiresAt),
                ]
                if let authorised = entry.authorisedAt { row["authorised"] = day(authorised) }
                if entry.withdrawable { row["withdrawable"] = true }
                return row
            },
        ]
        if entries.isEmpty { values["none"] = true }
        if let notice { values["notice"] = notice }
        return page(Pages.accountConsents, values, status: status)
    }

    static func statusWords(_ status: Consent.Status) -> String {
        switch status {
        case .awaitingAuthorisation: "Waiting for approval"
        case .authorised: "Active"
        case .rejected: "Refused"
        case .consumed: "Used"
        case .revoked: "Withdrawn"
        case .expired: "Expired"
        }
    }

    /// "1 December 2026, 10:00 UTC".
    static func day(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "d MMMM yyyy, HH:mm 'UTC'"
        return formatter.string(from: date)
    }
}
