"""Model -> text: rich tables on a terminal, stable plain text when piped, JSON. Pure functions."""
