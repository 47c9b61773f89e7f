"""eddy/sinks."""
