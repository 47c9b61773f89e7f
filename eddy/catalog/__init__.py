"""eddy/catalog."""
