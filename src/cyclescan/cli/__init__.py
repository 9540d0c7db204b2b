"""Command line: thin modules that parse arguments, call the library and print results.

One module per subcommand, each with ``register(subparsers)``; nothing imports the CLI.
"""
