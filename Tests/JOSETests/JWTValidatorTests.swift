import JOSE
import Testing
import OpenSSLKit

@Suite("JWTValidator")
struct JWTValidatorTests {
    let now = 1_800_000_000.0
    let issuer = "https://localhost:8443"

    func claims(_ members: [String: JSON]) -> JWTClaims { JWTClaims(members) }

    func code(_ validator: JWTValidator, _ members: [String: JSON]) -> JOSEError.Code? {
        do {
            try validator.validate(claims(members), now: now)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("a valid token passes")
    func valid() {
        let validator = JWTValidator(issuer: "client", audiences: [issuer], requiredClaims: ["exp", "iat"], maximumLifetime: 3600)
        #expect(code(validator, ["iss": "client", "aud": .string(issuer), "exp": .int(Int64(now) + 60), "iat": .int(Int64(now))]) == nil)
    }

    @Test("exp in the past beyond the skew is expired; within the skew passes")
    func expiry() {
        let validator = JWTValidator(clockSkew: 10)
        #expect(code(validator, ["exp": .int(Int64(now) - 11)]) == .expired)
        #expect(code(validator, ["exp": .int(Int64(now) - 5)]) == nil)
        #expect(code(validator, [:]) == .missingClaim)
        #expect(code(validator, ["exp": "soon"]) == .malformed)
    }

    @Test("nbf and iat in the future: 8 s accepted, 60 s refused (FAPI 2 SP §5.3.1.1-14)")
    func future() {
        let validator = JWTValidator(clockSkew: 10)
        let exp = JSON.int(Int64(now) + 300)
        #expect(code(validator, ["exp": exp, "nbf": .int(Int64(now) + 8), "iat": .int(Int64(now) + 8)]) == nil)
        #expect(code(validator, ["exp": exp, "nbf": .int(Int64(now) + 60)]) == .notYetValid)
        #expect(code(validator, ["exp": exp, "iat": .int(Int64(now) + 60)]) == .issuedInFuture)
    }

    @Test("aud may be a string or an array; a foreign aud is refused")
    func audience() {
        let validator = JWTValidator(audiences: [issuer])
        let exp = JSON.int(Int64(now) + 60)
        #expect(code(validator, ["exp": exp, "aud": .string(issuer)]) == nil)
        #expect(code(validator, ["exp": exp, "aud": .array(["other", .string(issuer)])]) == nil)
        #expect(code(validator, ["exp": exp, "aud": "https://evil.example"]) == .invalidAudience)
        #expect(code(validator, ["exp": exp]) == .missingClaim)
        #expect(code(validator, ["exp": exp, "aud": 5]) == .malformed)
        let single = JWTValidator(audiences: [issuer], requireSingleAudience: true)
        #expect(code(single, ["exp": exp, "aud": .array([.string(issuer)])]) == .invalidAudience)
    }

    @Test("iss must match exactly")
    func issuerCheck() {
        let validator = JWTValidator(issuer: "client-1")
        let exp = JSON.int(Int64(now) + 60)
        #expect(code(validator, ["exp": exp, "iss": "client-2"]) == .invalidIssuer)
        #expect(code(validator, ["exp": exp]) == .missingClaim)
    }

    @Test("lifetime over the maximum and nbf too old are refused (FAPI1-A 5.2.2-12/16)")
    func lifetime() {
        let validator = JWTValidator(maximumLifetime: 3600, maximumAge: 3600)
        #expect(code(validator, ["exp": .int(Int64(now) + 3601), "nbf": .int(Int64(now))]) == .lifetimeTooLong)
        #expect(code(validator, ["exp": .int(Int64(now) + 60), "nbf": .int(Int64(now) - 3700)]) == .lifetimeTooLong)
        #expect(code(validator, ["exp": .int(Int64(now) + 3600), "nbf": .int(Int64(now))]) == nil)
    }
}
