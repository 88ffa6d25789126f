"""Stage 1, infrastructure: create, inspect and destroy the stack's AWS resources with boto3."""
