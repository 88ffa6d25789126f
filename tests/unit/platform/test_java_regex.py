"""Profile filter patterns are checked as Java regular expressions, the engine Spark runs them
with (issue 14.8): Python's `re` refused `\\p{L}+` and accepted `(?P<w>...)`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tweet_triage.java_regex import JavaRegexError, check_java_regex, java_refusals
from tweet_triage.profile import ProfileError, load_profile

JAVA_ONLY = [
    r"\p{L}+",
    r"\p{IsAlphabetic}\p{javaLowerCase}\p{InGreek}\pL",
    r"(?<word>\w+)\s\k<word>",
    r"a(?i)b",
    r"\Qa.b(\E",
    r"[a-z&&[^aeiou]]",
    r"\h+\x{1F600}",
    r"(?<=a|bc)d",
    r"x{2,3}+(?>ab|a)c",
]
BOTH = [r"(?i)\bmirror deploy\w*", r"\bfree\s+(gift|iphone)\b", r"[]a]", r"\u00e9\x41\012"]
PYTHON_ONLY = [r"(?P<w>x)", r"(?#comment)", r"a{,3}", r"\U0001F600", r"(?a)x", r"a{"]
NEITHER = [r"(unclosed", r"[a-", r"*a", r"\p{Nope}", r"\0", "a\\", r"x{3,2}", r"\y", r"a)"]


@pytest.mark.parametrize("pattern", JAVA_ONLY + BOTH)
def test_java_patterns_pass(pattern: str) -> None:
    check_java_regex(pattern)


@pytest.mark.parametrize("pattern", PYTHON_ONLY + NEITHER)
def test_patterns_java_refuses_are_refused(pattern: str) -> None:
    with pytest.raises(JavaRegexError):
        check_java_regex(pattern)


def _profile(tmp_path: Path, pattern: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\nstream:\n  rules:\n    - {tag: t, value: 'word'}\n"
        f"filter:\n  keep_patterns: ['{pattern}']\n"
    )
    return path


def test_a_profile_takes_java_syntax_and_refuses_python_syntax(tmp_path: Path) -> None:
    assert load_profile(str(_profile(tmp_path, r"\p{L}+"))).filter.keep_patterns == [r"\p{L}+"]
    with pytest.raises(ProfileError, match=r"'\(\?P<w>x\)' is not a Java regular expression"):
        load_profile(str(_profile(tmp_path, "(?P<w>x)")))


@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java")
def test_the_check_agrees_with_the_jvm() -> None:
    pytest.importorskip("pyspark")
    refused = java_refusals(JAVA_ONLY + BOTH + PYTHON_ONLY + NEITHER)
    assert set(refused) == set(PYTHON_ONLY + NEITHER), refused
