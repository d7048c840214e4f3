import FapidFuzzHarness
import Foundation

/// The target this process fuzzes: `--target NAME` (removed from the arguments libFuzzer sees) or `FAPID_FUZZ_TARGET`.
nonisolated(unsafe) private var selected: FuzzTarget?
/// The argument list handed back to libFuzzer; kept here for the life of the process (LeakSanitizer sees it reachable).
nonisolated(unsafe) private var fuzzerArguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

/// libFuzzer's start-up hook: picks the target and prepares its fixtures before the first input.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    var name = ProcessInfo.processInfo.environment["FAPID_FUZZ_TARGET"]
    let arguments = (0..<Int(argc.pointee)).map { argv.pointee![$0] }
    var kept: [UnsafeMutablePointer<CChar>?] = []
    var index = 0
    while index < arguments.count {
        let argument = arguments[index].map { String(cString: $0) } ?? ""
        if argument == "--list-targets" {
            print(FuzzTarget.allCases.map(\.rawValue).joined(separator: "\n"))
            exit(0)
        }
        if argument == "--target", index + 1 < arguments.count {
            name = arguments[index + 1].map { String(cString: $0) }
            index += 2
            continue
        }
        kept.append(arguments[index])
        index += 1
    }
    guard let name, let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: " ")
        FileHandle.standardError.write(Data("fapid-fuzz: --target NAME (or FAPID_FUZZ_TARGET) is one of: \(names)\n".utf8))
        exit(2)
    }
    // libFuzzer reads the arguments again after this hook: hand it the list without ours.
    let list = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: kept.count + 1)
    for (offset, pointer) in kept.enumerated() { list[offset] = pointer }
    list[kept.count] = nil
    fuzzerArguments = list
    argv.pointee = list
    argc.pointee = Int32(kept.count)
    selected = target
    FuzzTarget.prepare()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    selected?.run(bytes)
    return 0
}
