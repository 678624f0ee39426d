"""`python -m underwrite.watchlist`: see underwrite.watchlist.commands."""

from underwrite.watchlist.commands import main

main()
