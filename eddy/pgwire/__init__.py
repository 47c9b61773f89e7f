"""eddy/pgwire."""
