"""One module per benchmark figure: section(...) measures it into the report, rows(report) tables it."""
