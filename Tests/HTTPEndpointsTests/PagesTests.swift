import AuthorizationServer
import Foundation
@testable import HTTPEndpoints
import Testing

/// The PSU pages escape every value per Unicode scalar: swift-mustache's own escaping works per Character,
/// so `"` followed by a combining mark (one grapheme) would pass it raw and end the attribute.
@Suite("Pages")
struct PagesTests {
    static let quoteAndMark = "\"\u{0301}"
    static let hostile = quoteAndMark + " autofocus onfocus=alert(1) x=" + quoteAndMark + "<b>'&`"

    /// Every attribute value of every tag, as an HTML tokenizer reads them: a quote ends the value whatever follows it.
    static func attributes(_ html: String) -> [(name: String, value: String)] {
        let scalars = Array(html.unicodeScalars)
        var found: [(String, String)] = []
        var index = 0
        var inTag = false
        while index < scalars.count {
            let scalar = scalars[index]
            if !inTag {
                inTag = scalar == "<"
                index += 1
                continue
            }
            if scalar == ">" {
                inTag = false
                index += 1
                continue
            }
            if scalar == "=" {
                var nameEnd = index
                while nameEnd > 0, scalars[nameEnd - 1] != " " && scalars[nameEnd - 1] != "\n" { nameEnd -= 1 }
                let name = String(String.UnicodeScalarView(scalars[nameEnd..<index]))
                index += 1
                guard index < scalars.count, scalars[index] == "\"" else { continue }
                let start = index + 1
                var end = start
                while end < scalars.count, scalars[end] != "\"" { end += 1 }
                found.append((name, String(String.UnicodeScalarView(scalars[start..<min(end, scalars.count)]))))
                index = end + 1
                continue
            }
            index += 1
        }
        return found
    }

    @Test("HTMLText escapes scalar by scalar, so a quote before a combining mark is escaped")
    func escaper() {
        let quoteAndMark = "\"\u{0301}"
        let escaped = "&quot;\u{0301}"
        // One Character, two scalars: per-Character escaping (swift-mustache's) sees no quote in it.
        #expect(quoteAndMark.count == 1 && quoteAndMark.unicodeScalars.count == 2)
        #expect(HTMLText.escape(quoteAndMark) == escaped)
        #expect(HTMLText.escape("<a href='x'>&`") == "&lt;a href=&#39;x&#39;&gt;&amp;&#96;")
        let page = Endpoints.html(Pages.error, ["message": quoteAndMark])
        #expect(page.contains(escaped) && !page.contains(quoteAndMark))
    }

    @Test("login and consent pages keep a hostile client name, organisation and username inside their text")
    func loginAndConsent() {
        let login = Endpoints.html(Pages.login, ["clientName": Self.hostile, "interaction": "i", "csrf": "c", "username": Self.hostile, "error": Self.hostile])
        let consent = Endpoints.html(
            Pages.consent,
            ["clientName": Self.hostile, "interaction": "i", "csrf": "c", "username": Self.hostile, "organisation": Self.hostile,
             "permissions": [Self.hostile, "see your accounts"]])
        for html in [login, consent] {
            #expect(!html.unicodeScalars.contains("`"))
            #expect(!html.contains("<b>"))
            let marker = HTMLText.escape(Self.hostile)
            #expect(html.contains(marker))
            let names = Set(Self.attributes(html).map(\.name))
            #expect(!names.contains("onfocus") && !names.contains("autofocus") && !names.contains("x"), "\(names)")
        }
        // The username field's value is the whole (escaped) name, and the hidden fields follow unharmed.
        let attributes = Self.attributes(login)
        #expect(attributes.contains { $0.name == "value" && $0.value == HTMLText.escape(Self.hostile) })
        #expect(attributes.contains { $0.name == "name" && $0.value == "csrf" } && attributes.contains { $0.name == "value" && $0.value == "c" })
    }

    @Test("the form_post page keeps a hostile state inside its value attribute")
    func formPost() throws {
        let html = Endpoints.html(
            Pages.formPost,
            ["action": "https://tpp.example/cb?a=" + Self.quoteAndMark, "fields": [["name": "state", "value": Self.hostile], ["name": "code", "value": "abc"]]])
        let attributes = Self.attributes(html)
        let state = try #require(attributes.firstIndex { $0.name == "name" && $0.value == "state" })
        #expect(attributes[state + 1].name == "value")
        #expect(attributes[state + 1].value == HTMLText.escape(Self.hostile))
        let action = HTMLText.escape("https://tpp.example/cb?a=" + Self.quoteAndMark)
        #expect(attributes.contains { $0.name == "action" && $0.value == action })
        #expect(!attributes.contains { $0.name == "onfocus" })
    }
}
