#!/usr/bin/python
"""Ansible module: one resource of the tweet-triage stack, through tweet_triage.cloud's boto3 code.

Used where amazon.aws has no module (Firehose delivery stream, CloudWatch log stream) or where
the project's code must own the step: the key pair (the private key is written 0600 inside this
process and never travels through task results), and security-group deletion (bounded backoff
while a terminated instance's network interface is released).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: tt_resource
short_description: Ensure or delete one resource of the tweet-triage AWS stack
description:
  - Calls the idempotent C(ensure_*) or C(delete_*) function of C(tweet_triage.cloud.resources) for
    the resource; C(changed) is true only when AWS (or the private key file) was modified.
  - Settings come from the environment and .env, as for every tweet-triage command.
options:
  kind:
    description: Which resource.
    required: true
    type: str
    choices: [bucket, log_group, log_stream, firehose_role, delivery_stream, streamer_role,
              instance_profile, security_group, key_pair, instance]
  state:
    description: present (create or converge) or absent (delete; succeeds if already gone).
    type: str
    default: present
    choices: [present, absent]
"""

RETURN = r"""
resource:
  description: kind, name, id, state and details of the resource after the call.
  type: dict
  returned: always
"""

from dataclasses import asdict  # noqa: E402 - Ansible wants DOCUMENTATION first

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

KINDS = [
    "bucket",
    "log_group",
    "log_stream",
    "firehose_role",
    "delivery_stream",
    "streamer_role",
    "instance_profile",
    "security_group",
    "key_pair",
    "instance",
]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "kind": {"type": "str", "required": True, "choices": KINDS},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
    )
    try:
        from tweet_triage.cloud.aws import connect
        from tweet_triage.cloud.preflight import preflight
        from tweet_triage.cloud.stack import DELETE, ENSURE
        from tweet_triage.config import load_settings
        from tweet_triage.errors import TriageError
    except ImportError as exc:
        module.fail_json(
            msg=f"cannot import tweet_triage ({exc}): run the playbook with the project's "
            "venv (make -f Makefile-stream ...) and "
            "ansible_python_interpreter={{ ansible_playbook_python }}"
        )
        return
    kind, state = module.params["kind"], module.params["state"]
    step = ENSURE[kind] if state == "present" else DELETE.get(kind)
    if step is None:
        module.fail_json(msg=f"{kind} is deleted with its parent resource; use state=present")
        return
    try:
        settings = load_settings()
        aws = connect(settings)
        plan = preflight(
            settings, aws, detect_operator_cidr=(kind, state) == ("security_group", "present")
        )
        report = step(aws, plan)
    except TriageError as exc:
        module.fail_json(msg=str(exc))
        return
    module.exit_json(changed=report.changed, resource=asdict(report))


if __name__ == "__main__":
    main()
