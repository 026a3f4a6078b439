"""The `poolbench` command: one thin module per subcommand. The only layer that prints or exits."""
