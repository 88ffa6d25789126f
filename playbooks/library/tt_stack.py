#!/usr/bin/python
"""Ansible module: the stack-wide steps of tweet-triage (preflight, status, verify destroyed)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: tt_stack
short_description: Preflight, status and destroy verification of the tweet-triage AWS stack
description:
  - Reads the project's settings (environment and .env, as loaded by
    C(python -m tweet_triage.envrun)) and calls C(tweet_triage.cloud). Needs the project's
    Python: run it with C(ansible_python_interpreter={{ ansible_playbook_python }}) on localhost.
  - C(preflight) checks region, credentials, endpoint, bucket name and operator CIDR before anything
    is touched, and returns the resolved plan (names, ARNs, tags) and the policy documents.
  - C(verify_destroyed) fails, listing what is left, unless nothing of the stack exists.
options:
  action:
    description: What to do.
    choices: [preflight, status, verify_destroyed]
    required: true
    type: str
  detect_operator_cidr:
    description: Resolve OPERATOR_CIDR (or the caller's address) during preflight.
    type: bool
    default: true
  keep_bucket:
    description: For verify_destroyed, whether the bucket is expected to remain.
    type: bool
    default: false
"""

RETURN = r"""
plan:
  description: Names, ARNs, tags, prefixes, buffering, operator CIDR (preflight).
  type: dict
  returned: action=preflight
policies:
  description: firehose_trust, firehose_inline, streamer_trust, streamer_inline, bucket (preflight).
  type: dict
  returned: action=preflight
ssh_rule:
  description: The operator SSH rule for amazon.aws.ec2_security_group (preflight).
  type: dict
  returned: action=preflight and detect_operator_cidr
resources:
  description: One entry per resource with kind, name, id, state (status).
  type: list
  returned: action=status
"""

from dataclasses import asdict  # noqa: E402 - Ansible wants DOCUMENTATION first

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def _ssh_rule(cidr: str) -> dict:
    """The security-group rule in amazon.aws.ec2_security_group's shape, IPv4 or IPv6."""
    family = "cidr_ipv6" if ":" in cidr else "cidr_ip"
    return {"proto": "tcp", "ports": [22], family: cidr, "rule_desc": "operator SSH"}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "required": True,
                "choices": ["preflight", "status", "verify_destroyed"],
            },
            "detect_operator_cidr": {"type": "bool", "default": True},
            "keep_bucket": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        from tweet_triage.cloud import policies
        from tweet_triage.cloud.aws import connect
        from tweet_triage.cloud.preflight import preflight
        from tweet_triage.cloud.stack import describe_all, verify_destroyed
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
        plan = preflight(
            settings,
            aws,
            detect_operator_cidr=action == "preflight" and module.params["detect_operator_cidr"],
        )
        if action == "preflight":
            module.exit_json(
                changed=False,
                plan=plan.as_dict(),
                policies={
                    "firehose_trust": policies.firehose_trust_policy(plan),
                    "firehose_inline": policies.firehose_inline_policy(plan),
                    "firehose_inline_name": policies.FIREHOSE_POLICY_NAME,
                    "streamer_trust": policies.streamer_trust_policy(plan),
                    "streamer_inline": policies.streamer_inline_policy(plan),
                    "streamer_inline_name": policies.STREAMER_POLICY_NAME,
                    "bucket": policies.bucket_policy(plan),
                },
                ssh_rule=_ssh_rule(plan.operator_cidr) if plan.operator_cidr else None,
            )
        if action == "status":
            module.exit_json(changed=False, resources=[asdict(r) for r in describe_all(aws, plan)])
        verify_destroyed(aws, plan, keep_bucket=module.params["keep_bucket"])
        module.exit_json(changed=False, msg=f"nothing of stack {plan.stack} is left")
    except TriageError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
