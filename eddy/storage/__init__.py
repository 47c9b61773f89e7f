"""eddy/storage."""
