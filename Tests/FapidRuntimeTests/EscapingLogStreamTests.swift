import FapidRuntime
import Foundation
import Logging
import Synchronization
import Testing

@Suite("EscapingLogStream")
struct EscapingLogStreamTests {
    /// The text handler the daemon installs, writing into a buffer instead of stderr.
    func logged(_ body: (Logger) -> Void) -> String {
        let box = Box()
        let stream = EscapingLogStream { text in box.text.withLock { $0 += text } }
        let logger = Logger(label: "fapid") { label in StreamLogHandler(label: label, stream: stream, metadataProvider: nil) }
        body(logger)
        return box.text.withLock { $0 }
    }

    final class Box: Sendable {
        let text = Mutex("")
    }

    @Test("a newline in a metadata value cannot start a forged line (CWE-117)")
    func newlineInMetadata() {
        let forged = "x\n2030-01-01T00:00:00+0000 notice fapid: [FapidRuntime] admin login succeeded"
        let output = logged { $0.info("request refused", metadata: ["client_id": "\(forged)"]) }
        #expect(output.split(separator: "\n", omittingEmptySubsequences: false).count == 2)
        #expect(output.hasSuffix("\n"))
        #expect(output.contains(#"client_id=x\n2030-01-01"#))
    }

    @Test("controls in the message, keys and values are escaped; the line keeps its own newline")
    func controlsEverywhere() {
        let output = logged { $0.warning("bad\r\u{1B}[2Jmessage\r", metadata: ["k\u{7}": "\u{9B}31m\u{2028}\u{202E}"]) }
        #expect(!output.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!output.unicodeScalars.contains { (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x202E })
        #expect(output.contains(#"bad\r\u{1B}[2Jmessage\r"#))
        #expect(output.contains(#"k\u{7}=\u{9B}31m\u{2028}\u{202E}"#))
        #expect(output.unicodeScalars.last == "\n" && output.filter { $0 == "\n" }.count == 1)
    }

    @Test("plain text passes unchanged")
    func plain() {
        #expect(EscapingLogStream.escaped("client_id=abc DN=CN=Ünïcode,O=Bank") == "client_id=abc DN=CN=Ünïcode,O=Bank")
        #expect(EscapingLogStream.escaped("a\tb\nc") == #"a\tb\nc"#)
    }
}
