"""`python -m awqkit ...` is the awqkit command."""
from ._cli import main

main()
