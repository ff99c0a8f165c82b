/// Why a node operation failed. The description is one line for the user,
/// without secrets; `hint` says what to do about it where there is something.
public struct NodeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public let hint: String?

    public init(_ description: String, hint: String? = nil) {
        self.description = description
        self.hint = hint
    }
}
