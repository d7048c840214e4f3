import AuthorizationServer
import Foundation
import JOSE
import Testing

/// A configured `pattern` runs a backtracking regular expression on TPP text, so at load it must bound the text
/// (`maxLength` at most 1024 in the same schema) and must not nest quantifiers (ReDoS, CWE-1333).
@Suite("JSON Schema pattern safety")
struct JSONSchemaPatternTests {
    func loadError(_ schema: JSON) -> String? {
        do {
            _ = try JSONSchema(schema)
            return nil
        } catch {
            return error.reason
        }
    }

    func property(_ pattern: String, maxLength: Int = 64) -> JSON {
        ["type": "object", "properties": ["reference": ["type": "string", "maxLength": .int(Int64(maxLength)), "pattern": .string(pattern)]]]
    }

    @Test("nested quantifiers and alternation in a repeated group are refused, naming the key", arguments: [
        "(a+)+", "(a*)*", "(a|aa)+", "^(a+)+$", "((a+)b)*", "(?:[0-9]+-?)+", "(x{1,3}){2,}", "(a+?)+", "(\\d+)*z",
    ])
    func nestedQuantifiers(pattern: String) {
        let error = loadError(property(pattern))
        #expect(error?.contains("pattern") == true && error?.contains("/properties/reference") == true, "\(pattern): \(error ?? "loaded")")
    }

    @Test("a pattern without maxLength, or with maxLength above 1024, is refused")
    func unbounded() {
        let missing = loadError(["properties": ["reference": ["type": "string", "pattern": "^[A-Z]+$"]]])
        #expect(missing?.contains("maxLength") == true && missing?.contains("/properties/reference") == true)
        #expect(loadError(property("^[A-Z]+$", maxLength: 1025))?.contains("maxLength") == true)
        #expect(loadError(property("^[A-Z]+$", maxLength: 1024)) == nil)
    }

    @Test("ordinary patterns load and match", arguments: [
        "^[A-Z][a-z ]+$", "^(GB|DE)[0-9]{2}$", "^([0-9]{2}-)+[0-9]{2}$", "^\\p{Lu}{2}[0-9]+$", "^[(a+)+]+$", "^\\Q(a+)+\\E$", "(a+)?b",
    ])
    func goodPatterns(pattern: String) throws {
        #expect(loadError(property(pattern)) == nil, "\(pattern)")
    }

    @Test("a good pattern still decides: matching text passes, other text fails")
    func goodPatternDecides() throws {
        let schema = try JSONSchema(property("^(GB|DE)[0-9]{2}$"))
        #expect(schema.failure(of: ["reference": "GB12"]) == nil)
        #expect(schema.failure(of: ["reference": "FR12"]) == "pattern at /properties/reference")
    }
}
