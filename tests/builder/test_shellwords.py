"""Shell-word expansion, checked against the cases of BuildKit's lexer tests."""

from __future__ import annotations

import pytest

from freight.builder.shellwords import ExpansionError, Lexer, expand_word, expand_words, referenced_vars

ENV = {"PWD": "/home", "SHELL": "bash", "NULL": ""}

# (input, expected output) for a single word; None means an error.
WORD_CASES = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", None),
    ("he\\'llo", "he'llo"),
    ("he\\\\'llo", None),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ('"hello', None),
    ('"hello\\"', None),
    ("\"hel'lo\"", "hel'lo"),
    ("'hello", None),
    ("'hello\\'", "hello\\"),
    ("'hello\\there'", "hello\\there"),
    ("'hello\\\\there'", "hello\\\\there"),
    ("\"''\"", "''"),
    ("$.", "$."),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ('"he\\\\$PWD"', "he\\/home"),
    ("\\${}", "${}"),
    ("\\${}aaa", "${}aaa"),
    ("he\\${}", "he${}"),
    ("${}", None),
    ("${}aaa", None),
    ("he${}xx", None),
    ("he${hi}", "he"),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("he${.}", None),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${NULL:-def}", "hedef"),
    ("he${NULL-def}", "he"),
    ("he${XXX-def}", "hedef"),
    ("he${XXX:YYY}", None),
    ("he${XXX?}", None),
    ("he${XXX:?}", None),
    ("he${PWD?}", "he/home"),
    ("he${PWD:?}", "he/home"),
    ("he${NULL?}", "he"),
    ("he${NULL:?}", None),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("he${NULL:+000}xx", "hexx"),
    ("he${NULL+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ("\"he'$PWD'\"", "he'/home'"),
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("'\"hello\"'", '"hello"'),
    ("he${PWD", None),
    ("he${PWD:=000}xx", None),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
    ("안녕하세요", "안녕하세요"),
    ("안'녕'하세요", "안녕하세요"),
    ("안'녕하세요", None),
    ("안녕\\'하세요", "안녕'하세요"),
    ('"안녕하세요\\\\"', "안녕하세요\\"),
    ("${PWD}", "/home"),
    ("$SHELL$PWD", "bash/home"),
    ("$$", ""),
    ("a b", "a b"),
    ("a\\ b", "a b"),
    ('"a  b"', "a  b"),
]


@pytest.mark.parametrize("word,expected", WORD_CASES)
def test_expand_word(word: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ExpansionError):
            expand_word(word, ENV)
    else:
        assert expand_word(word, ENV) == expected


PATTERN_ENV = {"P": "/usr/local/bin/python3.11", "F": "archive.tar.gz", "X": "aXbXc", "S": "a*b"}

PATTERN_CASES = [
    ("${P#*/}", "usr/local/bin/python3.11"),
    ("${P##*/}", "python3.11"),
    ("${P%/*}", "/usr/local/bin"),
    ("${P%%/*}", ""),
    ("${F%.*}", "archive.tar"),
    ("${F%%.*}", "archive"),
    ("${F#*.}", "tar.gz"),
    ("${F##*.}", "gz"),
    ("${F#archive}", ".tar.gz"),
    ("${F#nomatch}", "archive.tar.gz"),
    ("${F%.t?r.gz}", "archive"),
    ("${S#a\\*}", "b"),
    ("${UNSET#x}", ""),
    ("${X/X/-}", "a-bXc"),
    ("${X//X/-}", "a-b-c"),
    ("${X//X}", None),
    ("${X/?X/}", "bXc"),
    ("${X//[/-}", "aXbXc"),
    ("${P/\\/usr/opt}", "opt/local/bin/python3.11"),
    ("${P/\\/usr/\\/opt}", "\\/opt/local/bin/python3.11"),  # BuildKit keeps the escape
    ("${X:#a}", None),
    ("${X:%a}", None),
]


@pytest.mark.parametrize("word,expected", PATTERN_CASES)
def test_pattern_modifiers(word: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ExpansionError):
            expand_word(word, PATTERN_ENV)
    else:
        assert expand_word(word, PATTERN_ENV) == expected


WORDS_ENV = {"hi": "hi", "space": "abc  def", "leading": "  ab c", "empty": ""}

WORDS_CASES = [
    ("hello", ["hello"]),
    ("hello${nothere}bye", ["hellobye"]),
    ("hello${hi}bye", ["hellohibye"]),
    ("hello${space}bye", ["helloabc", "defbye"]),
    ('hello"${space}"bye', ["helloabc  defbye"]),
    ('hello "${space}"bye', ["hello", "abc  defbye"]),
    ("hello${leading}def", ["hello", "ab", "cdef"]),
    ('hello"${leading}" def', ["hello  ab c", "def"]),
    ('hello"${leading}"', ["hello  ab c"]),
    ("hello${leading}", ["hello", "ab", "c"]),
    ('hello "${leading}" def', ["hello", "  ab c", "def"]),
    ("  a   b  ", ["a", "b"]),
    ("a\\ b c", ["a b", "c"]),
    ("'a b' \"c d\"", ["a b", "c d"]),
    ('""', []),
    ("$empty", []),
    ("80 443/tcp", ["80", "443/tcp"]),
    ("a << b", ["a", "<< b"]),
    ("a <<\tb c", ["a", "<<\tb", "c"]),
    ("a<b <c", ["a<b", "<c"]),
]


@pytest.mark.parametrize("word,expected", WORDS_CASES)
def test_expand_words(word: str, expected: list[str]) -> None:
    assert expand_words(word, WORDS_ENV) == expected


def test_error_message_names_the_word() -> None:
    with pytest.raises(ExpansionError) as info:
        expand_word("${A:?need A}", {})
    assert str(info.value) == 'failed to process "${A:?need A}": A: need A'
    with pytest.raises(ExpansionError, match="is not allowed to be unset"):
        expand_word("${A?}", {})
    with pytest.raises(ExpansionError, match="is not allowed to be empty"):
        expand_word("${A:?}", {"A": ""})
    with pytest.raises(ExpansionError, match="bad substitution"):
        expand_word("${:x}", {})
    with pytest.raises(ExpansionError, match=r"missing '}'"):
        expand_word("${A:-x", {})


def test_backtick_escape() -> None:
    assert expand_word("a`$PWD", ENV, escape="`") == "a$PWD"
    assert expand_word("c:\\dir\\$PWD", ENV, escape="`") == "c:\\dir\\/home"
    assert expand_word('"x`"y"', ENV, escape="`") == 'x"y'


def test_raw_quotes_and_escapes() -> None:
    lexer = Lexer(raw_quotes=True, raw_escapes=True)
    assert lexer.process("'a b' \"$PWD\" \\x", ENV).words == ["'a b'", '"/home"', "\\x"]


def test_skip_unset_keeps_references() -> None:
    lexer = Lexer(skip_unset=True)
    assert lexer.process("$PWD $NOPE ${NOPE} ${NOPE:-d} ${NOPE/a/b}", ENV).word == (
        "/home $NOPE ${NOPE} ${NOPE:-d} ${NOPE/a/b}"
    )


def test_skip_quotes_for_heredoc_bodies() -> None:
    lexer = Lexer(skip_quotes=True)
    assert lexer.process("echo '$PWD' \"$SHELL\"\n", ENV).word == "echo '/home' \"bash\"\n"


def test_matched_and_unmatched_names() -> None:
    result = Lexer().process("$PWD ${NOPE:-$SHELL} $NULL", ENV)
    assert result.matched == {"PWD", "SHELL", "NULL"}
    assert result.unmatched == {"NOPE"}


def test_referenced_vars() -> None:
    assert referenced_vars("$A ${B:-$C} '${NOT}' \\$ESC ${D:?x} ${E#p} ${F/a/$G}") == {
        "A", "B", "C", "D", "E", "F", "G"}
    assert referenced_vars("plain text") == set()
    assert referenced_vars("a`$B $C", escape="`") == {"C"}
