"""A syntax check of Java regular expressions (java.util.regex), without a JVM.

Profile `keep_patterns` and `drop_patterns` run in Spark (`rlike`, i.e. java.util.regex), but
profiles are loaded where there is no JVM (the streamer host) and must fail fast with a
readable message. Python's `re` is the wrong judge: it refuses Java's `\\p{L}` and accepts
Python-only `(?P<w>...)`. So the pattern is scanned with Java's rules (escapes, group kinds,
flags, repetitions, Unicode properties, nested classes) and rewritten into an equivalent shape
that `re` can compile, which then catches what both engines refuse alike (unbalanced
parentheses, a quantifier with nothing to repeat, a range with min > max).

Known approximations: `\\p{IsX}`/`\\p{InX}` accept any script or block name; lookbehind
length limits and octal/back-reference ranges are not checked. `tweet-triage profile validate`
confirms with the JVM itself where Java is installed.
"""

from __future__ import annotations

import re

# Escapes Java accepts before a letter (it refuses every other letter; any non-letter is fine).
_SIMPLE_ESCAPES = {
    "t": r"\t",
    "n": r"\n",
    "r": r"\r",
    "f": r"\f",
    "a": r"\a",
    "e": r"\x1b",
    "d": r"\d",
    "D": r"\D",
    "s": r"\s",
    "S": r"\S",
    "w": r"\w",
    "W": r"\W",
    "h": r"[ \t]",
    "H": r"[^ \t]",
    "v": r"\v",
    "V": r"[^\v]",
    "R": r"(?:\r\n|\n)",
    "X": r".",
    "b": r"\b",
    "B": r"\B",
    "A": r"\A",
    "G": "",
    "Z": r"\Z",
    "z": r"\Z",
}
_POSIX = {
    "Lower",
    "Upper",
    "ASCII",
    "Alpha",
    "Digit",
    "Alnum",
    "Punct",
    "Graph",
    "Print",
    "Blank",
    "Cntrl",
    "XDigit",
    "Space",
    "all",
    "LD",
    "L1",
}
_CATEGORIES = {
    "L",
    "Lu",
    "Ll",
    "Lt",
    "Lm",
    "Lo",
    "LC",
    "M",
    "Mn",
    "Mc",
    "Me",
    "N",
    "Nd",
    "Nl",
    "No",
    "P",
    "Pc",
    "Pd",
    "Ps",
    "Pe",
    "Pi",
    "Pf",
    "Po",
    "S",
    "Sm",
    "Sc",
    "Sk",
    "So",
    "Z",
    "Zs",
    "Zl",
    "Zp",
    "C",
    "Cc",
    "Cf",
    "Co",
    "Cs",
    "Cn",
}
_JAVA_CHARACTER = {
    "LowerCase",
    "UpperCase",
    "Whitespace",
    "Mirrored",
    "Alphabetic",
    "Ideographic",
    "TitleCase",
    "Digit",
    "Defined",
    "Letter",
    "LetterOrDigit",
    "JavaIdentifierStart",
    "JavaIdentifierPart",
    "UnicodeIdentifierStart",
    "UnicodeIdentifierPart",
    "IdentifierIgnorable",
    "SpaceChar",
    "ISOControl",
}  # \p{javaLowerCase} ...
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_REPETITION = re.compile(r"\{(\d+)(,(\d*))?\}")
_FLAGS = set("idmsuxU")


class JavaRegexError(ValueError):
    """The pattern is not a valid java.util.regex pattern; the message says where and why."""


def _property_ok(name: str) -> bool:
    if name in _POSIX or name in _CATEGORIES:
        return True
    if name.startswith("java"):
        return name[4:] in _JAVA_CHARACTER
    key, _, value = name.partition("=")
    if value:
        return key in ("script", "sc", "block", "blk", "general_category", "gc") and bool(value)
    if name.startswith("Is"):  # IsL, IsAlphabetic, IsLatin (any script)
        return bool(re.fullmatch(r"[A-Za-z_]+", name[2:]))
    if name.startswith("In"):  # InGreek (any block)
        return bool(re.fullmatch(r"[A-Za-z0-9_ ]+", name[2:]))
    return False


class _Scanner:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.at = 0
        self.out: list[str] = []

    def fail(self, why: str, at: int | None = None) -> JavaRegexError:
        where = self.at if at is None else at
        return JavaRegexError(f"{why} near index {where}")

    def peek(self, offset: int = 0) -> str:
        index = self.at + offset
        return self.pattern[index] if index < len(self.pattern) else ""

    def translate(self) -> str:
        while self.at < len(self.pattern):
            char = self.peek()
            if char == "\\":
                self.out.append(self.escape(in_class=False))
            elif char == "[":
                self.out.append(self.char_class())
            elif char == "(":
                self.out.append(self.group_open())
            elif char == "{":
                match = _REPETITION.match(self.pattern, self.at)
                if match is None:
                    raise self.fail("Illegal repetition (a '{' that is no {n}, {n,} or {n,m})")
                self.out.append(match.group(0))
                self.at = match.end()
            else:
                self.out.append(char)
                self.at += 1
        return "".join(self.out)

    def escape(self, *, in_class: bool) -> str:
        start = self.at
        self.at += 1
        char = self.peek()
        if not char:
            raise self.fail("Unexpected internal error: a trailing backslash", start)
        self.at += 1
        if not char.isascii() or not char.isalnum():
            return "\\" + char
        if char in _SIMPLE_ESCAPES and not (in_class and char in "bBAGZzRX"):
            return _SIMPLE_ESCAPES[char]
        if char in "pP":
            return self.unicode_property(char, start, in_class)
        if char == "Q":
            end = self.pattern.find("\\E", self.at)
            end = len(self.pattern) if end == -1 else end
            quoted = self.pattern[self.at : end]
            self.at = min(end + 2, len(self.pattern))
            return "a" if in_class else re.escape(quoted)
        if char == "E":
            return ""  # a \E without \Q is ignored
        if char == "k" and not in_class:
            match = re.compile(r"<([A-Za-z][A-Za-z0-9]*)>").match(self.pattern, self.at)
            if match is None:
                raise self.fail("\\k is not followed by '<' named group '>'", start)
            self.at = match.end()
            return f"(?P={match.group(1)})"
        if char == "x":
            if self.peek() == "{":
                end = self.pattern.find("}", self.at)
                digits = self.pattern[self.at + 1 : end] if end != -1 else ""
                if not re.fullmatch(r"[0-9A-Fa-f]+", digits) or int(digits, 16) > 0x10FFFF:
                    raise self.fail("Illegal hexadecimal escape sequence", start)
                self.at = end + 1
                return "a"
            return self.fixed_digits(2, "0-9A-Fa-f", "Illegal hexadecimal escape sequence", start)
        if char == "u":
            return self.fixed_digits(4, "0-9A-Fa-f", "Illegal Unicode escape sequence", start)
        if char == "c":
            if not self.peek():
                raise self.fail("Illegal control escape sequence", start)
            self.at += 1
            return "a"
        if char == "0":
            if self.peek() not in "01234567" or not self.peek():
                raise self.fail("Illegal octal escape sequence", start)
            while self.peek() and self.peek() in "01234567" and self.at - start < 4:
                self.at += 1
            return "a"
        if char.isdigit():  # a back-reference: Java checks the group at match time
            while self.peek().isdigit():
                self.at += 1
            return "" if in_class else "(?:)"
        if char == "N" and self.peek() == "{":
            end = self.pattern.find("}", self.at)
            if end == -1:
                raise self.fail("Unclosed character name escape sequence", start)
            self.at = end + 1
            return "a"
        raise self.fail(f"Illegal/unsupported escape sequence \\{char}", start)

    def fixed_digits(self, count: int, allowed: str, why: str, start: int) -> str:
        digits = self.pattern[self.at : self.at + count]
        if not re.fullmatch(f"[{allowed}]{{{count}}}", digits):
            raise self.fail(why, start)
        self.at += count
        return "a"

    def unicode_property(self, char: str, start: int, in_class: bool) -> str:
        if self.peek() == "{":
            end = self.pattern.find("}", self.at)
            if end == -1:
                raise self.fail("Unclosed character family", start)
            name = self.pattern[self.at + 1 : end]
            self.at = end + 1
        else:
            name = self.peek()
            self.at += 1
        if not _property_ok(name):
            raise self.fail(f"Unknown character property name {{{name}}}", start)
        return "a" if in_class else "."

    def char_class(self) -> str:
        """Scan a (possibly nested, intersected) Java class; emit a simple Python one."""
        start = self.at
        depth = 0
        while self.at < len(self.pattern):
            char = self.peek()
            if char == "\\":
                self.escape(in_class=True)
                continue
            if char == "[":
                depth += 1
                self.at += 1
                if self.peek() == "^":
                    self.at += 1
                if self.peek() == "]":  # a leading ']' is a literal, as in Java
                    self.at += 1
                continue
            if char == "]":
                depth -= 1
                self.at += 1
                if depth == 0:
                    return "[a]"
                continue
            self.at += 1
        raise self.fail("Unclosed character class", start)

    def group_open(self) -> str:
        start = self.at
        self.at += 1
        if self.peek() != "?":
            return "("
        self.at += 1
        rest = self.pattern[self.at :]
        for prefix, python in ((":", "(?:"), ("=", "(?="), ("!", "(?!"), (">", "(?>")):
            if rest.startswith(prefix):
                self.at += len(prefix)
                return python
        if rest.startswith(("<=", "<!")):  # Java allows bounded variable-length lookbehind
            self.at += 2
            return "(?:"
        if rest.startswith("<"):
            name = _NAME.match(rest, 1)
            if name is None or rest[name.end() : name.end() + 1] != ">":
                raise self.fail("named capturing group is missing trailing '>'", start)
            self.at += name.end() + 1
            return f"(?P<{name.group(0)}>"
        flags = re.match(r"([A-Za-z]*)(?:-([A-Za-z]*))?([:)])", rest)
        if flags is None or not (flags.group(1) or flags.group(2) is not None):
            raise self.fail(f"Unknown inline modifier or group kind (?{rest[:1]}", start)
        letters = flags.group(1) + (flags.group(2) or "")
        unknown = sorted(set(letters) - _FLAGS)
        if unknown:
            raise self.fail(f"Unknown inline modifier {''.join(unknown)!r}", start)
        self.at += flags.end()
        return "(?:" if flags.group(3) == ":" else ""


def check_java_regex(pattern: str) -> None:
    """Raise JavaRegexError unless java.util.regex.Pattern.compile would accept `pattern`."""
    translated = _Scanner(pattern).translate()
    try:
        re.compile(translated)
    except re.error as exc:
        raise JavaRegexError(re.sub(r" at position \d+.*", "", str(exc))) from None


def java_refusals(patterns: list[str]) -> dict[str, str]:
    """pattern -> java.util.regex's own message, for each pattern the JVM refuses.

    The exact judge, at the cost of starting a JVM (5-10 s): needs the `data` extra (pyspark)
    and Java. Raises JavaRegexError naming the fix when either is missing.
    """
    try:
        from py4j.protocol import Py4JJavaError
        from pyspark.java_gateway import launch_gateway
    except ImportError as exc:
        raise JavaRegexError(
            "checking with the JVM needs the data extra: pip install -e '.[data]'"
        ) from exc
    try:
        gateway = launch_gateway()
    except (OSError, RuntimeError) as exc:  # no java on PATH / JAVA_HOME
        raise JavaRegexError(f"cannot start a JVM ({exc}); install Java 17 or later") from exc
    refusals: dict[str, str] = {}
    try:
        compile_pattern = gateway.jvm.java.util.regex.Pattern.compile
        for pattern in patterns:
            try:
                compile_pattern(pattern)
            except Py4JJavaError as exc:
                error = exc.java_exception
                refusals[pattern] = f"{error.getDescription()} near index {error.getIndex()}"
    finally:
        gateway.shutdown()
    return refusals
