"""Helpers shared by the tests: specs and inventories, the CLI in a subprocess, recorded runs, worker runs."""
