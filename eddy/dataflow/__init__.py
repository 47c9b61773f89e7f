"""eddy/dataflow."""
