"""What keeps private things out of site/: real ids in free text replaced by display names
(`Redactor`), and the last check of every file to be published for the site key, a real id or,
before the reveal, a hidden-score key (`check_no_leaks`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Optional

# Key names that must not appear anywhere in site/ while the private part is hidden.
HIDDEN_SCORE_KEYS = ("private_accuracy", "test_accuracy")


class SiteError(ValueError):
    """The site cannot be built safely: something private would be published."""


class Redactor:
    """Replaces real ids (folder names, student ids) in free text (logs, summaries, errors) by display
    names, the longest id first where ids overlap. Every id in one pass over the text (Aho-Corasick):
    one scan per id would make a site of 1,000 students a million scans of logs."""

    def __init__(self, replacements: dict[str, str]):
        self.replacements = replacements
        self._automaton = automaton({real: real for real in replacements})

    def __call__(self, text: Optional[str]) -> str:
        text = text or ""
        if self._automaton is None:
            return text
        pieces, position = [], 0
        for end, real in self._automaton.iter_long(text):
            start = end - len(real) + 1
            pieces += [text[position:start], self.replacements[real]]
            position = end + 1
        pieces.append(text[position:])
        return "".join(pieces)


def automaton(words: dict[str, object]):
    """An Aho-Corasick automaton finding every key of `words` (each match yields (end, value)); None if empty."""
    import ahocorasick

    if not words:
        return None
    finder = ahocorasick.Automaton()
    for word, value in words.items():
        finder.add_word(word, value)
    finder.make_automaton()
    return finder


def check_no_leaks(site_dir: Path, texts: dict[str, str], forbidden_ids: set[str], key: Optional[bytes],
                   reveal_private: bool) -> None:
    """Raise SiteError (and delete site/) if any text to be published (`texts`, by path relative to
    site/) holds the site key, a real id (as a whole word: not inside a longer name) or, before the
    reveal, a hidden-score key: the last line of defence, run before anything is written. One pass
    per text finds every one of them."""
    # word -> (what it is, must it stand alone)
    words: dict[str, tuple[str, bool]] = {real: (f"real id {real!r}", True) for real in forbidden_ids if real}
    if key:
        words[key.decode("utf-8")] = ("the site key", False)
    if not reveal_private:
        words.update({name: (f"hidden score {name!r}", False) for name in HIDDEN_SCORE_KEYS})
    finder = automaton({word: (word, *found) for word, found in words.items()})
    if finder is None:
        return
    for relative, text in sorted(texts.items()):
        path = site_dir / relative
        if path.suffix not in (".html", ".svg", ".css", ".txt", ".json", ".csv"):
            continue
        for end, (word, what, alone) in finder.iter(text):
            start = end - len(word) + 1
            if alone and (_is_id_char(text, start - 1) or _is_id_char(text, end + 1)):
                continue  # part of a longer name, e.g. "ann" in "annotate"
            shutil.rmtree(site_dir, ignore_errors=True)
            raise SiteError(f"{path} would publish {what}; nothing was published (site/ removed)")


_ID_CHAR = re.compile(r"[\w-]")


def _is_id_char(text: str, index: int) -> bool:
    return 0 <= index < len(text) and _ID_CHAR.match(text[index]) is not None

