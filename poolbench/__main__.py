"""`python -m poolbench` is the `poolbench` command."""

from poolbench.orphans import arm_parent_death

if __name__ == "__main__":
    arm_parent_death()  # before the imports of the CLI: dies with the runner from here on

    from poolbench.cli.app import main

    main()
