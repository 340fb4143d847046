"""`python -m pmpoolctl`."""

from pmpoolctl.cli import main

if __name__ == "__main__":
    main()
