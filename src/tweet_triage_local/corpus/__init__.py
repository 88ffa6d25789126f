"""The bundled demo corpus: real tweets as X API v2 objects plus human annotations."""
