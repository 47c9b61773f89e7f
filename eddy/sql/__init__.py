"""eddy/sql."""
