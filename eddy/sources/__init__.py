"""eddy/sources."""
