"""Local stand-ins for the real services: moto for AWS, the X API stand-in, an SSH host."""
