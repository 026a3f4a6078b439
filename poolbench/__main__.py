"""`python -m poolbench` is the `poolbench` command."""

from poolbench.cli.app import main

if __name__ == "__main__":
    main()
