"""`python -m edge_eval` runs the CLI."""

from edge_eval.cli.main import main

main()
