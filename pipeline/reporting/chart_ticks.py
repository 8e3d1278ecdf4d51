"""Log-axis tick labels as plain text: 10k and 1M for counts, 0.01 and 0.1 for decimals.

matplotlib's default log labels are mathtext (10 to the power 4), which reads worse on a phone
than "10k" and costs the report its slowest step: laying out mathtext loads a parser and lays out
every label glyph by glyph, on every chart drawn. matplotlib still chooses which ticks get a label
(LogFormatter); only the words are ours.
"""

from __future__ import annotations


def counts(value: float) -> str:
    """1,000,000 as 1M, 20,000 as 20k, 500 as 500."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def decimals(value: float) -> str:
    """0.01 as 0.01, not 1e-02."""
    return f"{value:g}"


def plain_log_ticks(axis, words=counts) -> None:
    """Label the log-scale `axis` (axes.xaxis or axes.yaxis) in `words`, major and minor ticks:
    a range narrower than a decade has no major tick, and matplotlib then labels some minor ones."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def __call__(self, value, pos=None):
            return words(value) if super().__call__(value, pos) else ""

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(labelOnlyBase=False))
