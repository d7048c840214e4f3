import FapidFuzzHarness
import Foundation
import Testing

/// Every seed and every minimised finding of `make fuzz` (Tests/Fuzz/Corpus/<target>, Tests/Fuzz/Regressions/<target>)
/// replayed through its target on each `make test`: a parser that crashes or breaks an invariant on one of them fails
/// here without a fuzzer.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ target: FuzzTarget, in folder: String) -> [URL] {
        let directory = root.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test("every target has seeds and replays its seeds and regressions", arguments: FuzzTarget.allCases)
    func replay(target: FuzzTarget) async throws {
        let seeds = Self.inputs(target, in: "Corpus")
        #expect(!seeds.isEmpty, "Tests/Fuzz/Corpus/\(target.rawValue) has no seed")
        for file in seeds + Self.inputs(target, in: "Regressions") {
            let broken = await target.replay(Array(try Data(contentsOf: file)))
            #expect(broken.isEmpty, "\(file.lastPathComponent): \(broken)")
        }
    }

    @Test("every target has a dictionary")
    func dictionaries() {
        for target in FuzzTarget.allCases {
            let path = Self.root.appendingPathComponent("Dictionaries").appendingPathComponent(target.rawValue + ".dict").path
            #expect(FileManager.default.fileExists(atPath: path), "no dictionary for \(target.rawValue)")
        }
    }
}
