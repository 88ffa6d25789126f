#!/usr/bin/python
"""Ansible module: the stack-wide steps of tweet-triage (preflight, preview, verify destroyed)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: tt_stack
short_description: Preflight, destroy preview, status and destroy verification of the stack
description:
  - Reads the project's settings (environment and .env, as loaded by
    C(python -m tweet_triage.envrun)) and calls C(tweet_triage.cloud). Needs the project's
    Python: run it with C(ansible_python_interpreter={{ ansible_playbook_python }}) on localhost.
  - C(preflight) checks region, credentials, endpoint, bucket name and operator CIDR before anything
    is touched, and returns the resolved plan and the order in which resources are created.
  - C(destroy_preview) is the dry run of a destroy - what exists and would be deleted - and the
    order in which resources are deleted.
  - C(verify_destroyed) fails, listing what is left, unless nothing of the stack exists.
  - Only reads; supports check mode.
options:
  action:
    description: What to do.
    choices: [preflight, destroy_preview, status, verify_destroyed]
    required: true
    type: str
  keep_bucket:
    description: Whether the bucket stays (destroy_preview, verify_destroyed); default
      DESTROY_KEEP_BUCKET.
    type: bool
"""

RETURN = r"""
plan:
  description: Names, ARNs, tags, prefixes, buffering, operator CIDR.
  type: dict
  returned: action=preflight or action=destroy_preview
create_order:
  description: Resource kinds in creation order, for tt_resource.
  type: list
  returned: action=preflight
destroy_order:
  description: Resource kinds in deletion order (without the bucket when it is kept).
  type: list
  returned: action=destroy_preview
doomed:
  description: One line per resource (and the private key file) a destroy would delete.
  type: list
  returned: action=destroy_preview
keep_bucket:
  description: Whether the destroy keeps the bucket.
  type: bool
  returned: action=destroy_preview
resources:
  description: One entry per resource with kind, name, id, state (status).
  type: list
  returned: action=status
"""

from dataclasses import asdict  # noqa: E402 - Ansible wants DOCUMENTATION first

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "required": True,
                "choices": ["preflight", "destroy_preview", "status", "verify_destroyed"],
            },
            "keep_bucket": {"type": "bool", "default": None},
        },
        supports_check_mode=True,
    )
    try:
        from tweet_triage.cloud.aws import connect
        from tweet_triage.cloud.preflight import preflight
        from tweet_triage.cloud.resources import CREATE_ORDER, DESTROY_ORDER
        from tweet_triage.cloud.stack import describe_all, destroy_preview, verify_destroyed
        from tweet_triage.config import load_settings
        from tweet_triage.errors import TriageError
    except ImportError as exc:
        module.fail_json(
            msg=f"cannot import tweet_triage ({exc}): run the playbook with the project's "
            "venv (make -f Makefile-stream ...) and "
            "ansible_python_interpreter={{ ansible_playbook_python }}"
        )
        return
    action = module.params["action"]
    try:
        settings = load_settings()
        aws = connect(settings)
        plan = preflight(settings, aws, detect_operator_cidr=action == "preflight")
        keep = module.params["keep_bucket"]
        keep = plan.keep_bucket if keep is None else keep
        if action == "preflight":
            module.exit_json(changed=False, plan=plan.as_dict(), create_order=CREATE_ORDER)
        if action == "destroy_preview":
            module.exit_json(
                changed=False,
                plan=plan.as_dict(),
                doomed=destroy_preview(settings, aws, keep_bucket=keep),
                destroy_order=[k for k in DESTROY_ORDER if not (keep and k == "bucket")],
                keep_bucket=keep,
            )
        if action == "status":
            module.exit_json(changed=False, resources=[asdict(r) for r in describe_all(aws, plan)])
        verify_destroyed(aws, plan, keep_bucket=keep)
        module.exit_json(changed=False, msg=f"nothing of stack {plan.stack} is left")
    except TriageError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
