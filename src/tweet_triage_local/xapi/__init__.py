"""A local stand-in for the X API v2 filtered stream, replaying the demo corpus."""
