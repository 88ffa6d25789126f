"""Stage 1, infrastructure: create, inspect and destroy the stack's AWS resources with boto3.

Notebooks and other stages call `create_stack`, `stack_status` and `destroy_stack` (each
returns a `StackReport`); the Ansible playbooks call the same per-resource functions through
the modules in playbooks/library.
"""

from tweet_triage.cloud.aws import CloudError
from tweet_triage.cloud.plan import StackPlan
from tweet_triage.cloud.preflight import preflight
from tweet_triage.cloud.report import ResourceReport, StackReport
from tweet_triage.cloud.stack import create_stack, destroy_stack, stack_status, verify_destroyed

__all__ = [
    "CloudError",
    "ResourceReport",
    "StackPlan",
    "StackReport",
    "create_stack",
    "destroy_stack",
    "preflight",
    "stack_status",
    "verify_destroyed",
]
