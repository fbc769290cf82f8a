"""`python -m agent` runs the same CLI as the `annexa` console script."""

from agent.cli import main

if __name__ == "__main__":
    main()
