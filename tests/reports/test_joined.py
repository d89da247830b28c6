"""JoinedStrings reads back what a list of the same strings holds, and says where each lies."""

from __future__ import annotations

import pytest

from bot.reports.joined import JoinedStrings


@pytest.mark.parametrize("separator", ["", "\n"])
@pytest.mark.parametrize(
    "strings",
    [[], ["one"], ["ana@example.com", "", "Ben@Example.com", "ç", "last"]],
    ids=["none", "one", "several, one empty"],
)
def test_it_reads_as_the_list_does(strings: list[str], separator: str) -> None:
    joined = JoinedStrings(strings, separator=separator)
    assert joined.text == separator.join(strings)
    assert len(joined) == len(strings)
    assert list(joined) == strings
    assert [joined[i] for i in range(len(strings))] == strings
    assert joined[1:3] == strings[1:3]
    backwards = list(reversed(range(len(strings))))
    assert joined.take(backwards) == [strings[i] for i in backwards]
    if strings:
        assert joined[-1] == strings[-1]
    with pytest.raises(IndexError):
        joined[len(strings)]
    for index, string in enumerate(strings):
        start = joined.start(index)
        assert joined.text[start : start + len(string)] == string
        if string:  # every offset inside a string belongs to it
            assert {joined.at(start + k) for k in range(len(string))} == {index}
