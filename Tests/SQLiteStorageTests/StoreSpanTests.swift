import AuthorizationServer
import FapidTracing
import Foundation
import InMemoryTracing
import SQLiteStorage
import TestSupport
import Testing
import Tracing

/// A store operation is one client span when tracing is on, named by store and method, never holding what
/// was bound to its statements; off, none is made.
@Suite("Store spans over SQLite")
struct StoreSpanTests {
    @Test("a write and a read are spans named SQLiteTokenStore.<method>, children of the request's span, with no bound value")
    func storeSpans() async throws {
        let (database, keep) = try AuditLogTests.open()
        _ = keep
        let tokens = SQLiteTokenStore(database: database)
        let jti = "jti-secret-\(UUID().uuidString)"
        try await TestTracing.run(on: true) { tracer in
            try await Traced.span("request under test") { parent in
                _ = try await tokens.consume(jti: jti, clientID: "client-span", expiresAt: Date().addingTimeInterval(60), now: Date())
                _ = try await tokens.accessToken(hash: Array(repeating: 7, count: 32))
                let parentID = try #require((parent?.context.inMemorySpanContext)?.spanID)
                let children = tracer.finishedSpans.filter { $0.parentSpanID == parentID }
                #expect(children.map(\.operationName) == ["SQLiteTokenStore.consume", "SQLiteTokenStore.accessToken"])
                for span in children {
                    #expect(span.kind == .client)
                    #expect(span.attributes["db.system.name"]?.toSpanAttribute() == .string("sqlite"))
                    var text = ""
                    span.attributes.forEach { key, value in text += "\(key)=\(value) " }
                    #expect(!text.contains(jti) && !text.contains("client-span"), "\(text)")
                }
            }
        }
    }

    @Test("off, a store operation makes no span")
    func noSpanWhenOff() async throws {
        let (database, keep) = try AuditLogTests.open()
        _ = keep
        let tokens = SQLiteTokenStore(database: database)
        try await TestTracing.run(on: false) { tracer in
            let before = tracer.finishedSpans.count
            _ = try await tokens.accessToken(hash: Array(repeating: 7, count: 32))
            #expect(tracer.finishedSpans.count == before)
        }
    }

    @Test("on, a store operation outside any span (a background loop's) makes no root span")
    func noRootSpanOutsideARequest() async throws {
        let (database, keep) = try AuditLogTests.open()
        _ = keep
        let tokens = SQLiteTokenStore(database: database)
        try await TestTracing.run(on: true) { tracer in
            let hash = [UInt8](repeating: 9, count: 32)
            let seen = { tracer.finishedSpans.filter { $0.operationName == "SQLiteTokenStore.accessToken" }.count }
            let before = seen()
            _ = try await tokens.accessToken(hash: hash)
            #expect(seen() == before)
            try await Traced.span("background work with a span of its own") { _ in _ = try await tokens.accessToken(hash: hash) }
            #expect(seen() == before + 1)
        }
    }
}
