import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing

/// RFC 9396 `authorization_details`: the built-in types' validators, pass-through JSON Schemas, the client's
/// registered types, dual control and the plain-words display.
@Suite("Authorization details (RFC 9396)")
struct AuthorizationDetailsTests {
    static let clock = FixedClock()  // 2027-01-15T08:00:00Z

    static func client(types: [String]? = ["payment_initiation", "account_information"]) throws -> Client {
        var metadata: [String: JSON] = ["tls_client_auth_subject_dn": "CN=tpp,C=GB"]
        if let types { metadata["authorization_details_types"] = .array(types.map { .string($0) }) }
        return try Client(clientID: "tpp", metadata: metadata, createdAt: clock.now())
    }

    static let payment: JSON = [
        "type": "payment_initiation",
        "instructedAmount": ["currency": "GBP", "amount": "250.00"],
        "creditorName": "ACME Ltd",
        "creditorAccount": ["iban": "GB29NWBK60161331926819"],
        "remittanceInformation": ["reference": "INV-42"],
    ]

    static let accounts: JSON = [
        "type": "account_information",
        "actions": ["balances", "transactions"],
        "accounts": [["sortCodeAccountNumber": "60161331926819"]],
        "expirationDateTime": "2027-03-01T00:00:00Z",
    ]

    let policy = AuthorizationDetailsPolicy(clock: clock)

    /// The refusal's description, or nil when `value` is accepted.
    func refusal(_ value: JSON, policy: AuthorizationDetailsPolicy? = nil, client: Client? = nil) throws -> String? {
        let client = try client ?? Self.client()
        do {
            _ = try (policy ?? self.policy).validate(value, client: client)
            return nil
        } catch {
            #expect(error.code == .invalidAuthorizationDetails)
            return error.description
        }
    }

    func refusal(text: String) throws -> String? {
        let client = try Self.client()
        do {
            _ = try policy.validate(text: text, client: client)
            return nil
        } catch {
            #expect(error.code == .invalidAuthorizationDetails)
            return error.description
        }
    }

    /// The payment with `member` replaced (nil removes it).
    static func payment(_ member: String, _ value: JSON?) -> JSON {
        var object = payment.objectValue!
        object[member] = value
        return .object(object)
    }

    static func amount(_ amount: JSON, currency: String = "GBP") -> JSON {
        payment("instructedAmount", ["currency": .string(currency), "amount": amount])
    }

    @Test("both built-in types validate and come back unchanged")
    func valid() throws {
        let details: JSON = [Self.payment, Self.accounts]
        #expect(try policy.validate(details, client: try Self.client()) == details)
        #expect(try policy.validate(text: String(decoding: details.bytes, as: UTF8.self), client: try Self.client()) == details)
        #expect(policy.supportedTypes == ["account_information", "payment_initiation"])
        #expect(AuthorizationDetailsPolicy.builtInTypes == ["account_information", "payment_initiation"])
        // Optional members of the payment.
        var full = Self.payment.objectValue!
        full["debtorAccount"] = ["sortCodeAccountNumber": "12345612345678"]
        full["endToEndIdentification"] = "E2E-1"
        full["actions"] = ["initiate", "status"]
        full["locations"] = ["https://rs.bank.example/payments"]
        #expect(try refusal([.object(full)]) == nil)
        #expect(try refusal([Self.payment("remittanceInformation", "INV-42")]) == nil)
        #expect(try refusal([Self.payment("remittanceInformation", nil)]) == nil)
        var rfc = Self.payment.objectValue!
        rfc["remittanceInformation"] = nil
        rfc["remittanceInformationUnstructured"] = "Ref Number Merchant"
        rfc["creditorAccount"] = ["iban": "DE02100100109307118603"]
        #expect(try refusal([.object(rfc)]) == nil)
        // account_information without accounts or expiry, with locations.
        #expect(try refusal([["type": "account_information", "actions": ["details"], "locations": ["https://rs.bank.example/accounts"]]]) == nil)
    }

    @Test("malformed text: not JSON, repeated names, too big")
    func malformedText() throws {
        #expect(try refusal(text: "[{") != nil)
        #expect(try refusal(text: "") != nil)
        #expect(try refusal(text: #"[{"type":"payment_initiation","type":"account_information"}]"#)?.contains("repeated") == true)
        #expect(try refusal(text: "[" + String(repeating: " ", count: 8200) + "]")?.contains("8192") == true)
        #expect(try refusal(text: #"{"type":"payment_initiation"}"#)?.contains("array") == true)
    }

    @Test("shape: array of 1 to 16 objects with a type")
    func shape() throws {
        #expect(try refusal(Self.payment)?.contains("array") == true)
        #expect(try refusal([])?.contains("empty") == true)
        #expect(try refusal(.array(Array(repeating: Self.accounts, count: 17)))?.contains("16") == true)
        #expect(try refusal(.array(Array(repeating: Self.accounts, count: 16))) == nil)
        #expect(try refusal(["payment_initiation"])?.contains("object") == true)
        #expect(try refusal([["creditorName": "x"]])?.contains("type") == true)
        #expect(try refusal([["type": 7]])?.contains("type") == true)
        #expect(try refusal([["type": ""]])?.contains("type") == true)
    }

    @Test("types: unknown and unregistered are refused")
    func types() throws {
        #expect(try refusal([["type": "customer_information"]])?.contains("does not support") == true)
        #expect(try refusal([Self.payment], client: try Self.client(types: ["account_information"]))?.contains("did not register") == true)
        // A client that registered no types may use none (RFC 9396 §10 registration).
        #expect(try refusal([Self.accounts], client: try Self.client(types: nil))?.contains("did not register") == true)
    }

    @Test("the amount is a decimal string within the currency's minor units")
    func amounts() throws {
        #expect(try refusal([Self.amount("250")]) == nil)
        #expect(try refusal([Self.amount("250.00")]) == nil)
        #expect(try refusal([Self.amount("0.01")]) == nil)
        #expect(try refusal([Self.amount("250.5")]) == nil)
        #expect(try refusal([Self.amount("1500", currency: "JPY")]) == nil)
        #expect(try refusal([Self.amount("1.234", currency: "KWD")]) == nil)
        for bad: JSON in [
            250, .double(250.0), "2.5e2", "-1.00", "+1.00", "1.234", "", "1.", ".5", "0250.00", " 250.00", "250,00", "0", "0.00",
            "1234567890123456", "1.5", "NaN",
        ] {
            let currency = bad == "1.5" ? "JPY" : "GBP"
            #expect(try refusal([Self.amount(bad, currency: currency)]) != nil, "\(bad) \(currency)")
        }
        #expect(try refusal([Self.amount(250)])?.contains("not a number") == true)
        #expect(try refusal([Self.amount("250.00", currency: "gbp")])?.contains("ISO 4217") == true)
        #expect(try refusal([Self.amount("250.00", currency: "GBPX")]) != nil)
        #expect(try refusal([Self.payment("instructedAmount", ["currency": "GBP", "amount": "1.00", "x": 1])]) != nil)
        #expect(try refusal([Self.payment("instructedAmount", nil)])?.contains("instructedAmount") == true)
    }

    @Test("accounts: IBAN checksum, sort code and account number, exactly one")
    func accountShapes() throws {
        #expect(AccountReference.isIBAN("GB29NWBK60161331926819"))
        #expect(AccountReference.isIBAN("DE89370400440532013000"))
        #expect(!AccountReference.isIBAN("GB28NWBK60161331926819"))  // check digits wrong
        #expect(!AccountReference.isIBAN("GB29NWBK6016133192681"))  // GB is 22 long
        #expect(!AccountReference.isIBAN("GB29 NWBK 6016 1331 9268 19"))  // print format
        #expect(!AccountReference.isIBAN("gb29nwbk60161331926819"))
        #expect(AccountReference.iban("GB29NWBK60161331926819").masked == "GB29 NWBK **** 6819")
        #expect(AccountReference.sortCodeAccountNumber("60161312345678").masked == "60-16-13 ****5678")
        #expect(AccountReference.iban("GB29").masked == "****")  // built in code, never parsed: nothing shown, no crash
        #expect(AccountReference.sortCodeAccountNumber("1").masked == "****")
        #expect(try refusal([Self.payment("creditorAccount", ["iban": "GB28NWBK60161331926819"])])?.contains("IBAN") == true)
        #expect(try refusal([Self.payment("creditorAccount", ["sortCodeAccountNumber": "60161331926819"])]) == nil)
        #expect(try refusal([Self.payment("creditorAccount", ["sortCodeAccountNumber": "6016133192681"])])?.contains("14 digits") == true)
        #expect(try refusal([Self.payment("creditorAccount", ["sortCodeAccountNumber": "60-16-13-31926819"])]) != nil)
        let both: JSON = ["iban": "GB29NWBK60161331926819", "sortCodeAccountNumber": "60161331926819"]
        #expect(try refusal([Self.payment("creditorAccount", both)])?.contains("only one") == true)
        #expect(try refusal([Self.payment("creditorAccount", [:])]) != nil)
        #expect(try refusal([Self.payment("creditorAccount", ["iban": "GB29NWBK60161331926819", "name": "x"])]) != nil)
        #expect(try refusal([Self.payment("creditorAccount", nil)])?.contains("creditorAccount") == true)
        #expect(try refusal([Self.payment("debtorAccount", ["iban": "GB28NWBK60161331926819"])])?.contains("debtorAccount") == true)
    }

    @Test("texts: payee, references; unknown members refused")
    func texts() throws {
        #expect(try refusal([Self.payment("creditorName", "")]) != nil)
        #expect(try refusal([Self.payment("creditorName", "   ")]) != nil)
        #expect(try refusal([Self.payment("creditorName", "ACME\u{1B}[2J Ltd")]) != nil)
        #expect(try refusal([Self.payment("creditorName", "ACME\u{202E}dtL")]) != nil)
        #expect(try refusal([Self.payment("creditorName", .string(String(repeating: "a", count: 141)))]) != nil)
        #expect(try refusal([Self.payment("creditorName", 5)]) != nil)
        #expect(try refusal([Self.payment("creditorName", nil)]) != nil)
        #expect(try refusal([Self.payment("remittanceInformation", ["reference": .string(String(repeating: "r", count: 36))])]) != nil)
        #expect(try refusal([Self.payment("remittanceInformation", ["other": "x"])]) != nil)
        #expect(try refusal([Self.payment("remittanceInformation", [:])]) != nil)
        #expect(try refusal([Self.payment("remittanceInformationUnstructured", "also")])?.contains("both") == true)
        #expect(try refusal([Self.payment("endToEndIdentification", .string(String(repeating: "e", count: 36)))]) != nil)
        #expect(try refusal([Self.payment("chargeBearer", "DEBT")])?.contains("does not define") == true)
        #expect(try refusal([Self.payment("actions", ["transfer"])]) != nil)
        #expect(try refusal([Self.payment("locations", ["http://rs.bank.example/"])]) != nil)
        // The refusal names members only, never the value sent.
        let reason = try refusal([Self.payment("\"><script>", "x")]) ?? ""
        #expect(!reason.contains("script"))
        #expect(reason.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" })
    }

    @Test("account_information: actions, accounts, expiry relative to the clock")
    func accountInformation() throws {
        func with(_ member: String, _ value: JSON?) -> JSON {
            var object = Self.accounts.objectValue!
            object[member] = value
            return [.object(object)]
        }
        #expect(try refusal(with("actions", nil))?.contains("actions") == true)
        #expect(try refusal(with("actions", []))?.contains("actions") == true)
        #expect(try refusal(with("actions", ["balances", "payments"])) != nil)
        #expect(try refusal(with("actions", ["balances", "balances"])) != nil)
        #expect(try refusal(with("accounts", [])) != nil)
        #expect(try refusal(with("accounts", [["iban": "GB28NWBK60161331926819"]])) != nil)
        #expect(try refusal(with("accounts", [["iban": "GB29NWBK60161331926819"], ["iban": "GB29NWBK60161331926819"]])) != nil)
        #expect(try refusal(with("expirationDateTime", "2027-01-15T07:59:59Z"))?.contains("future") == true)
        #expect(try refusal(with("expirationDateTime", "2028-01-17T08:00:00Z"))?.contains("366") == true)
        #expect(try refusal(with("expirationDateTime", "2027-03-01T00:00:00.5+01:00")) == nil)
        for bad: JSON in ["2027-03-01", "1 March 2027", "2027-03-01T00:00:00", "2027-13-01T00:00:00Z", 1_800_000_000] {
            #expect(try refusal(with("expirationDateTime", bad))?.contains("RFC 3339") == true, "\(bad)")
        }
        #expect(try refusal(with("datatypes", ["x"]))?.contains("does not define") == true)
        // The clock decides: at a later instant the same expiry is in the past.
        let later = AuthorizationDetailsPolicy(clock: FixedClock(Date(timeIntervalSince1970: 1_900_000_000)))
        #expect(try refusal([Self.accounts], policy: later)?.contains("future") == true)
    }

    @Test("RFC 9396 §2.2 common members have their types, for every type")
    func commonMembers() throws {
        #expect(try refusal([["type": "account_information", "actions": "balances"]])?.contains("array of strings") == true)
        #expect(try refusal([["type": "x", "identifier": 5]])?.contains("identifier") == true)
        #expect(try refusal([["type": "x", "privileges": [1]]])?.contains("privileges") == true)
    }

    static func passThroughPolicy(_ schemas: JSON) throws -> AuthorizationDetailsPolicy {
        var settings = AuthorizationDetailsSettings()
        settings.passThrough = try AuthorizationDetailsSettings.passThrough(schemas)
        return AuthorizationDetailsPolicy(settings: settings, clock: clock)
    }

    static let customerSchema: JSON = [
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["type", "claims"],
        "additionalProperties": false,
        "properties": [
            "type": ["const": "customer_information"],
            "claims": ["type": "array", "minItems": 1, "maxItems": 3, "items": ["enum": ["name", "address", "email"]]],
            "purpose": ["type": "string", "minLength": 3, "maxLength": 20, "pattern": "^[A-Z][a-z ]+$"],
            "limit": ["type": "integer", "minimum": 1, "maximum": 10],
            "locations": ["type": "array", "items": ["type": "string"]],
        ],
    ]

    @Test("pass-through types follow their JSON Schema and the client's registration")
    func passThrough() throws {
        let policy = try Self.passThroughPolicy(["customer_information": Self.customerSchema])
        #expect(policy.supportedTypes == ["account_information", "customer_information", "payment_initiation"])
        let client = try Self.client(types: ["customer_information"])
        let good: JSON = ["type": "customer_information", "claims": ["name", "email"], "purpose": "Onboarding", "limit": 3]
        #expect(try refusal([good], policy: policy, client: client) == nil)
        #expect(try refusal([["type": "customer_information", "claims": ["name"], "limit": .double(3.0)]], policy: policy, client: client) == nil)
        let bad: [JSON] = [
            ["type": "customer_information"],  // required
            ["type": "customer_information", "claims": []],  // minItems
            ["type": "customer_information", "claims": ["name", "email", "address", "name"]],  // maxItems
            ["type": "customer_information", "claims": ["phone"]],  // enum
            ["type": "customer_information", "claims": ["name"], "purpose": "lower"],  // pattern
            ["type": "customer_information", "claims": ["name"], "purpose": "No"],  // minLength
            ["type": "customer_information", "claims": ["name"], "limit": 11],  // maximum
            ["type": "customer_information", "claims": ["name"], "limit": .double(1.5)],  // integer
            ["type": "customer_information", "claims": ["name"], "extra": true],  // additionalProperties
            ["type": "customer_information", "claims": "name"],  // type
        ]
        for value in bad {
            #expect(try refusal([value], policy: policy, client: client)?.contains("schema") == true, "\(value)")
        }
        // Registered with the server but not by this client.
        #expect(try refusal([good], policy: policy)?.contains("did not register") == true)
        // Not configured: refused although the client registered it.
        #expect(try refusal([good], client: client)?.contains("does not support") == true)
    }

    @Test("a schema with a keyword not implemented is refused at load, naming it")
    func schemaLoad() throws {
        func loadError(_ schema: JSON) -> String? {
            do {
                _ = try AuthorizationDetailsSettings.passThrough(["t": schema])
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(loadError(["type": "object", "oneOf": [["type": "object"]]])?.contains("oneOf") == true)
        #expect(loadError(["properties": ["a": ["format": "email"]]])?.contains("format") == true)
        #expect(loadError(["properties": ["a": ["format": "email"]]])?.contains("/properties/a") == true)
        #expect(loadError(["$ref": "#/x"])?.contains("$ref") == true)
        #expect(loadError(["$schema": "http://json-schema.org/draft-07/schema#"]) != nil)
        #expect(loadError(["pattern": "("])?.contains("pattern") == true)
        #expect(loadError(["type": "decimal"])?.contains("type") == true)
        #expect(loadError(["minItems": -1]) != nil)
        #expect(loadError("object") != nil)
        #expect(loadError(true) == nil)
        #expect(loadError(["title": "t", "description": "d", "$comment": "c"]) == nil)
        var deep: JSON = ["type": "string"]
        for _ in 0..<20 { deep = ["items": deep] }
        #expect(loadError(deep)?.contains("deeper") == true)
        #expect(throws: DetailError.self) { _ = try AuthorizationDetailsSettings.passThrough(["payment_initiation": true]) }
        #expect(throws: DetailError.self) { _ = try AuthorizationDetailsSettings.passThrough(["bad name": true]) }
        #expect(throws: DetailError.self) { _ = try AuthorizationDetailsSettings.passThrough([1]) }
    }

    static func dualControl(_ value: JSON, types: Set<String> = Set(AuthorizationDetailsPolicy.builtInTypes)) throws -> AuthorizationDetailsPolicy {
        var settings = AuthorizationDetailsSettings()
        settings.dualControl = try DualControlPolicy(value, knownTypes: types)
        return AuthorizationDetailsPolicy(settings: settings, clock: clock)
    }

    @Test("dual control: strictly above the threshold, other currencies, business accounts")
    func dualControl() throws {
        let policy = try Self.dualControl([
            "payment_initiation": [
                "above_amount": ["currency": "GBP", "amount": "100.00"], "approvals_required": 2,
            ]
        ])
        #expect(policy.approvalsRequired(for: [Self.amount("100.01")]) == 2)
        #expect(policy.approvalsRequired(for: [Self.amount("250.00")]) == 2)
        #expect(policy.approvalsRequired(for: [Self.amount("1000")]) == 2)
        #expect(policy.approvalsRequired(for: [Self.amount("100.00")]) == 1)  // equal is not above
        #expect(policy.approvalsRequired(for: [Self.amount("100")]) == 1)
        #expect(policy.approvalsRequired(for: [Self.amount("99.99")]) == 1)
        #expect(policy.approvalsRequired(for: [Self.amount("5.00", currency: "EUR")]) == 2)  // cannot compare: fail safe
        #expect(policy.approvalsRequired(for: [Self.amount(250)]) == 2)  // unreadable: fail safe
        #expect(policy.approvalsRequired(for: [Self.accounts]) == 1)
        #expect(policy.approvalsRequired(for: [Self.amount("1.00"), Self.amount("150.00")]) == 2)  // the most demanding wins
        #expect(AuthorizationDetailsPolicy(clock: Self.clock).approvalsRequired(for: [Self.amount("1000000")]) == 1)

        let business: JSON = ["sortCodeAccountNumber": "12345612345678"]
        let accounts = try Self.dualControl([
            "payment_initiation": ["accounts": [business], "approvals_required": 3],
            "account_information": ["approvals_required": 2],
        ])
        var fromBusiness = Self.payment.objectValue!
        fromBusiness["debtorAccount"] = business
        var fromPersonal = Self.payment.objectValue!
        fromPersonal["debtorAccount"] = ["iban": "DE89370400440532013000"]
        #expect(accounts.approvalsRequired(for: [.object(fromBusiness)]) == 3)
        #expect(accounts.approvalsRequired(for: [.object(fromPersonal)]) == 1)
        #expect(accounts.approvalsRequired(for: [Self.payment]) == 3)  // no debtor named: may be the business account
        #expect(accounts.approvalsRequired(for: [Self.accounts]) == 2)  // every account_information detail
        #expect(accounts.approvalsRequired(for: [Self.accounts, .object(fromBusiness)]) == 3)
    }

    @Test("dual control setting is checked at load")
    func dualControlLoad() throws {
        let bad: [JSON] = [
            "payment_initiation",
            ["payment_initiation": ["approvals_required": 0]],
            ["payment_initiation": ["approvals_required": 11]],
            ["payment_initiation": ["approvals_required": "2"]],
            ["payment_initiation": ["approvals_required": .double(2.5)]],
            ["payment_initiation": [:]],
            ["payment_initiation": ["approvals_required": 2, "above_amount": ["currency": "GBP", "amount": 100]]],
            ["payment_initiation": ["approvals_required": 2, "above_amount": ["currency": "GBP", "amount": "1e2"]]],
            ["payment_initiation": ["approvals_required": 2, "above_amount": ["currency": "pounds", "amount": "100.00"]]],
            ["payment_initiation": ["approvals_required": 2, "below_amount": ["currency": "GBP", "amount": "100.00"]]],
            ["payment_initiation": ["approvals_required": 2, "accounts": [["iban": "GB28NWBK60161331926819"]]]],
            ["account_information": ["approvals_required": 2, "above_amount": ["currency": "GBP", "amount": "100.00"]]],
            ["card_payment": ["approvals_required": 2]],
        ]
        for value in bad {
            #expect(throws: DetailError.self, "\(value)") {
                _ = try DualControlPolicy(value, knownTypes: Set(AuthorizationDetailsPolicy.builtInTypes))
            }
        }
        // A pass-through type may be named once it is configured.
        let custom = try Self.dualControl(["card_payment": ["approvals_required": 2]], types: ["card_payment"])
        #expect(custom.approvalsRequired(for: [["type": "card_payment"]]) == 2)
    }

    @Test("decimal amounts compare exactly, without floating point")
    func decimals() throws {
        func amount(_ text: String) -> DecimalAmount { DecimalAmount(text, minorDigits: 2)! }
        #expect(amount("100") == amount("100.00"))
        #expect(amount("100.1") == amount("100.10"))
        #expect(amount("100.01") > amount("100"))
        #expect(amount("99.99") < amount("100"))
        #expect(amount("0.1") > amount("0.09"))
        #expect(amount("1000") > amount("999.99"))
        #expect(amount("123456789012345.99") > amount("123456789012345.98"))
        #expect(DecimalAmount("1.5", minorDigits: 0) == nil)
        #expect(DecimalAmount("1.555", minorDigits: 3)?.text == "1.555")
    }

    @Test("display: plain words, masked accounts, no raw JSON")
    func display() throws {
        var payment = Self.payment.objectValue!
        payment["debtorAccount"] = ["sortCodeAccountNumber": "60161312341234"]
        payment["endToEndIdentification"] = "E2E-7"
        let lines = ConsentDisplay.lines([.object(payment), Self.accounts])
        #expect(
            lines == [
                "Pay 250.00 GBP (£250.00) to ACME Ltd",
                "To account GB29 NWBK **** 6819",
                "From account 60-16-13 ****1234",
                "Reference: INV-42",
                "End-to-end reference: E2E-7",
                "See your balances and transactions",
                "Accounts: 60-16-13 ****6819",
                "Until 1 March 2027, 00:00 UTC",
            ])
        #expect(ConsentDisplay.paymentAmounts([.object(payment), Self.accounts, Self.amount("1250000.5")]) == ["250.00", "1250000.5"])
        #expect(ConsentDisplay.lines([Self.amount("1250000.50")]).first == "Pay 1250000.50 GBP (£1,250,000.50) to ACME Ltd")
        #expect(ConsentDisplay.lines([Self.amount("1500", currency: "CHF")]).first == "Pay 1500 CHF to ACME Ltd")
        for line in lines {
            #expect(!line.contains("{") && !line.contains("\"") && !line.contains("60161331926819") && !line.contains("GB29NWBK"))
        }
        #expect(
            ConsentDisplay.lines([["type": "account_information", "actions": ["details", "balances", "transactions"]]]) == [
                "See your account details, balances and transactions", "Accounts: all your accounts", "Until you withdraw it",
            ])
        #expect(
            ConsentDisplay.lines([Self.payment("remittanceInformation", ["reference": "R1", "unstructured": "Rent March"])]).suffix(2) == [
                "Reference: R1", "Payment details: Rent March",
            ])
    }

    @Test("display of pass-through types and of hostile text")
    func displayPassThrough() throws {
        let lines = ConsentDisplay.lines([
            [
                "type": "customer_information", "claims": ["name"], "purpose": "Onboarding", "limit": 3, "rate": .double(0.5), "ok": true,
                "nested": ["a": "b"], "evil": "a\u{1B}[31mred\u{202E}x\nnext",
            ]
        ])
        #expect(
            lines == [
                "customer_information", "customer_information: claims[0]: name", "customer_information: evil: a?[31mred?x?next",
                "customer_information: limit: 3", "customer_information: nested.a: b", "customer_information: ok: yes",
                "customer_information: purpose: Onboarding", "customer_information: rate: 0.5",
            ])
        var many: [String: JSON] = ["type": "t"]
        for i in 0..<40 { many["k\(i)"] = .string(String(repeating: "v", count: 500)) }
        let bounded = ConsentDisplay.lines([.object(many)])
        // Not displayable whole (refused at validation); a never-validated one is shown bounded and says it is cut.
        #expect(!ConsentDisplay.displayable([.object(many)]))
        #expect(bounded.count == 1 + ConsentDisplay.maximumPassThroughLines + 1 && bounded.last == "t: more details than can be shown here")
        #expect(bounded.allSatisfy { $0.unicodeScalars.count <= ConsentDisplay.maximumLineCharacters + 3 })
        // Shapes that never passed validation still give words, not JSON, and never crash.
        #expect(ConsentDisplay.lines("text").isEmpty)
        #expect(ConsentDisplay.lines([1, "x", [:]]) == ["details"])
        #expect(ConsentDisplay.lines([["type": "payment_initiation"]]) == ["Pay an unstated amount"])
        #expect(ConsentDisplay.lines([Self.payment("creditorName", "ACME\u{7}\u{85}")]).first == "Pay 250.00 GBP (£250.00) to ACME??")
    }

    @Test("every one-byte change of a valid text is either accepted or refused with invalid_authorization_details")
    func mutations() throws {
        let client = try Self.client()
        let text = Array(String(decoding: JSON.array([Self.payment, Self.accounts]).bytes, as: UTF8.self).utf8)
        var accepted = 0
        var refused = 0
        for index in text.indices {
            for replacement in Array("0\"}],.".utf8) + [0xFF] where replacement != text[index] {
                var mutated = text
                mutated[index] = replacement
                let candidate = String(decoding: mutated, as: UTF8.self)
                do {
                    let details = try policy.validate(text: candidate, client: client)
                    accepted += 1
                    #expect(!ConsentDisplay.lines(details).isEmpty)
                } catch {
                    #expect(error.code == .invalidAuthorizationDetails)
                    refused += 1
                }
                _ = ConsentDisplay.lines((try? JSON.parse(mutated)) ?? .null)
            }
        }
        #expect(refused > accepted && accepted > 0)
    }

    @Test("client metadata authorization_details_types")
    func clientMetadata() throws {
        #expect(try Self.client().authorizationDetailsTypes == ["payment_initiation", "account_information"])
        #expect(try Self.client(types: nil).authorizationDetailsTypes == [])
        for bad: JSON in ["payment_initiation", [1], ["a", "a"], ["has space"], [""]] {
            #expect(throws: ClientMetadataError.self, "\(bad)") {
                _ = try Client(
                    clientID: "c", metadata: ["tls_client_auth_subject_dn": "CN=a", "authorization_details_types": bad], createdAt: Date())
            }
        }
        let client = try Self.client(types: ["payment_initiation", "customer_information"])
        #expect(throws: ClientMetadataError.self) { try client.checkAuthorizationDetailsTypes(supported: AuthorizationDetailsPolicy.builtInTypes) }
        try client.checkAuthorizationDetailsTypes(supported: AuthorizationDetailsPolicy.builtInTypes + ["customer_information"])
    }
}

/// A pass-through detail is refused when it could only be shown cut (PSD2 RTS Art. 5: what is approved is shown whole).
@Suite struct PassThroughDisplayBoundTests {
    func policy() throws -> AuthorizationDetailsPolicy {
        var settings = AuthorizationDetailsSettings()
        settings.passThrough = try AuthorizationDetailsSettings.passThrough(["wide": true])
        return AuthorizationDetailsPolicy(settings: settings, clock: FixedClock(Date(timeIntervalSince1970: 1_800_000_000)))
    }

    func detail(members: Int, valueLength: Int = 5) -> JSON {
        var object: [String: JSON] = ["type": "wide"]
        for index in 0..<members { object["m\(index)"] = .string(String(repeating: "v", count: valueLength)) }
        return .array([.object(object)])
    }

    @Test func fortyMembersAreShownAndFortyOneAreRefused() throws {
        let policy = try policy()
        #expect(throws: Never.self) { _ = try policy.validate(detail(members: 40), registered: ["wide"], now: Date(timeIntervalSince1970: 1_800_000_000)) }
        #expect(throws: OAuthError.self) { _ = try policy.validate(detail(members: 41), registered: ["wide"], now: Date(timeIntervalSince1970: 1_800_000_000)) }
    }

    @Test func aLineTooLongToShowIsRefused() throws {
        let policy = try policy()
        // "wide: m0: " is 10 characters: 190 more make a 200-character line, 191 one too long.
        #expect(throws: Never.self) { _ = try policy.validate(detail(members: 1, valueLength: 190), registered: ["wide"], now: Date(timeIntervalSince1970: 1_800_000_000)) }
        #expect(throws: OAuthError.self) { _ = try policy.validate(detail(members: 1, valueLength: 191), registered: ["wide"], now: Date(timeIntervalSince1970: 1_800_000_000)) }
    }
}
