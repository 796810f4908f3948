"""One module per ``dvpp-fleet`` command, each with ``main(args) -> exit code``; ``cli.py`` holds
the parser and the table that maps command names to these modules."""
