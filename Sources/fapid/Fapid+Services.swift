import AuthorizationServer
import FapidRuntime
import Foundation
import HTTPEndpoints

extension Fapid {
    /// The core services of the token path, wired to the runtime's stores.
    static func tokenServices(
        _ configuration: FapidConfiguration,
        runtime: Runtime,
        keyRing: KeyRing,
        fetcher: any JWKSFetcher,
        status: any CertificateStatusPolicy,
        clock: any WallClock,
        dpopNonces: DPoPNonces
    ) -> (TokenEndpointServices, PSUServices, CIBATokens, grantTypes: [String]) {
        let issuer = configuration.issuer
        // RFC 9449: one proof checker for PAR, token and userinfo; its jti memory is the shared replay store.
        let dpop = DPoPProofValidator(
            replay: runtime.tokens, nonces: dpopNonces, clock: clock, settings: DPoPSettings(nonceRequired: configuration.dpopNonceRequired))
        // One resolver, so a client's jwks_uri has one cache and one fetch in flight for every endpoint.
        let clientKeys = ClientKeyResolver(fetcher: fetcher, clock: clock)
        let authenticator = ClientAuthenticator(
            clients: runtime.clients,
            replay: runtime.tokens,
            keys: clientKeys,
            settings: ClientAuthenticationSettings(
                issuer: issuer, maximumAssertionLifetime: TimeInterval(configuration.clientAssertionMaxLifetimeSeconds)),
            clock: clock,
            status: status,
            audit: runtime.storage.audit
        )
        let issuerService = TokenIssuer(
            store: runtime.tokens,
            keyRing: keyRing,
            settings: AccessTokenSettings(issuer: issuer, lifetime: TimeInterval(configuration.accessTokenLifetime)),
            clock: clock
        )
        let codes = runtime.storage.codes
        let ciba = runtime.storage.ciba
        let idTokens = IDTokenIssuer(keyRing: keyRing, issuer: issuer, lifetime: TimeInterval(configuration.idTokenLifetimeSeconds), clock: clock)
        let refreshLifetime = TimeInterval(configuration.refreshTokenLifetimeSeconds)
        // Issue 19: the consents requests carry, created at PAR / `/authorize`, bound to codes and tokens.
        let consents = ConsentService(
            store: runtime.storage.consents, clients: runtime.clients, policy: Self.authorizationDetailsPolicy(configuration, clock: clock),
            clock: clock, status: status)
        let cibaTokens = CIBATokens(
            codes: codes, tokens: issuerService, idTokens: idTokens, clock: clock, refreshLifetime: refreshLifetime, consents: consents)
        let token = TokenService(
            authenticator: authenticator,
            handlers: [
                ClientCredentialsGrant(issuer: issuerService),
                AuthorizationCodeGrant(
                    codes: codes, tokens: issuerService, idTokens: idTokens, clock: clock, refreshLifetime: refreshLifetime, consents: consents),
                RefreshTokenGrant(codes: codes, tokens: issuerService, idTokens: idTokens, clock: clock, consents: consents),
                CIBAGrant(store: ciba, tokens: cibaTokens, clock: clock),
            ],
            dpop: dpop)
        let requestObjects = RequestObjectValidator(
            keys: clientKeys, replay: runtime.tokens, issuer: issuer, clock: clock)
        let pushedStore = runtime.storage.pushed
        let userinfo = UserinfoService(tokens: runtime.tokens, clock: clock, status: status, dpop: dpop)
        let psu = PSUServices(
            interactions: InteractionService(
                authorization: AuthorizationService(
                    clients: runtime.clients, pushed: pushedStore, codes: codes, validator: requestObjects, idTokens: idTokens, issuer: issuer,
                    clock: clock, codeLifetime: TimeInterval(configuration.authorizationCodeLifetimeSeconds), keyRing: keyRing,
                    requirePushed: configuration.requirePushedAuthorizationRequests, audit: runtime.storage.audit,
                    jarmLifetime: TimeInterval(configuration.jarmResponseLifetimeSeconds), consents: consents),
                login: LoginService(users: runtime.storage.users, attempts: runtime.storage.signInAttempts, clock: clock),
                store: runtime.storage.interactions, clients: runtime.clients, clock: clock, settings: interactionSettings(configuration))
        ).withAccounts(consents: runtime.storage.consents, clients: runtime.clients, clock: clock)
        let services = TokenEndpointServices(
            token: token,
            introspection: IntrospectionService(
                tokens: runtime.tokens, resourceServers: runtime.clients, issuer: issuer, clock: clock, status: status,
                consents: runtime.storage.consents),
            revocation: RevocationService(authenticator: authenticator, tokens: runtime.tokens, refreshTokens: codes, clock: clock),
            pushedAuthorization: PushedAuthorizationService(
                authenticator: authenticator, validator: requestObjects, store: pushedStore, clock: clock,
                lifetime: TimeInterval(configuration.pushedRequestLifetimeSeconds), dpop: dpop, consents: consents),
            userinfo: userinfo,
            backchannel: BackchannelAuthenticationService(
                authenticator: authenticator, keys: clientKeys, replay: runtime.tokens,
                users: runtime.storage.users, store: ciba, keyRing: keyRing, issuer: issuer, clock: clock,
                settings: backchannelSettings(configuration), consentService: consents),
            dpop: dpop,
            introspectionJWT: IntrospectionResponseJWT(keyRing: keyRing, issuer: issuer, clock: clock),
            grantManagement: GrantManagementService(consents: runtime.storage.consents, tokens: runtime.tokens, resource: userinfo, clock: clock),
            consents: consents
        )
        return (services, psu, cibaTokens, token.grantTypes)
    }
}

extension Fapid {
    static func interactionSettings(_ configuration: FapidConfiguration) -> InteractionService.Settings {
        var settings = InteractionService.Settings()
        settings.lifetime = TimeInterval(configuration.psuInteractionLifetimeSeconds)
        settings.sessionLifetime = TimeInterval(configuration.psuSessionLifetimeSeconds)
        settings.livePerRequestURI = configuration.psuInteractionsPerRequestURI
        return settings
    }

    static func backchannelSettings(_ configuration: FapidConfiguration) -> BackchannelAuthenticationService.Settings {
        var settings = BackchannelAuthenticationService.Settings()
        settings.defaultExpiry = configuration.cibaRequestLifetimeSeconds
        settings.maximumExpiry = configuration.cibaRequestMaxLifetimeSeconds
        settings.interval = configuration.cibaPollIntervalSeconds
        return settings
    }
}

extension Fapid {
    static func registrationService(
        _ configuration: FapidConfiguration, runtime: Runtime, directories: [TrustedDirectory], fetcher: any JWKSFetcher,
        status: any CertificateStatusPolicy, clock: any WallClock
    ) -> RegistrationService {
        RegistrationService(
            directories: directories, clients: runtime.clients, registrations: runtime.storage.registrations,
            replay: runtime.tokens, fetcher: fetcher, status: status, settings: registrationSettings(configuration), clock: clock)
    }

    static func registrationSettings(_ configuration: FapidConfiguration) -> RegistrationService.Settings {
        var settings = RegistrationService.Settings(issuer: configuration.issuer)
        settings.maximumStatementAge = TimeInterval(configuration.softwareStatementMaxAgeSeconds)
        settings.defaultProfile = configuration.fapiProfile
        settings.authorizationDetailsTypes = configuration.authorizationDetails.supportedTypes
        return settings
    }

    /// RFC 9396: the one checker of `authorization_details` (settings `authorization_details_pass_through`,
    /// `dual_control`), for every endpoint that takes them, discovery and the consent views.
    static func authorizationDetailsPolicy(_ configuration: FapidConfiguration, clock: any WallClock) -> AuthorizationDetailsPolicy {
        AuthorizationDetailsPolicy(settings: configuration.authorizationDetails, clock: clock)
    }
}
