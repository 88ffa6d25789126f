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


def _functions(r):  # the module's table of (ensure, delete) per kind
    def ensure_instance(aws, plan):
        return r.ensure_instance(aws, plan, str(r.describe_security_group(aws, plan).id))

    return {
        "bucket": (r.ensure_bucket, r.delete_bucket),
        "log_group": (r.ensure_log_group, r.delete_log_group),
        "log_stream": (r.ensure_log_stream, None),
        "firehose_role": (
            r.ensure_firehose_role,
            lambda aws, plan: r.delete_role(aws, "firehose_role", plan.firehose_role),
        ),
        "delivery_stream": (r.ensure_delivery_stream, r.delete_delivery_stream),
        "streamer_role": (
            r.ensure_streamer_role,
            lambda aws, plan: r.delete_role(aws, "streamer_role", plan.streamer_role),
        ),
        "instance_profile": (r.ensure_instance_profile, r.delete_instance_profile),
        "security_group": (r.ensure_security_group, r.delete_security_group),
        "key_pair": (r.ensure_key_pair, r.delete_key_pair),
        "instance": (ensure_instance, r.delete_instance),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "kind": {"type": "str", "required": True, "choices": KINDS},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
    )
    try:
        from tweet_triage.cloud import resources
        from tweet_triage.cloud.aws import connect
        from tweet_triage.cloud.preflight import preflight
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
    ensure, delete = _functions(resources)[kind]
    if state == "absent" and delete is None:
        module.fail_json(msg=f"{kind} is deleted with its parent resource; use state=present")
    try:
        settings = load_settings()
        aws = connect(settings)
        plan = preflight(
            settings, aws, detect_operator_cidr=(kind, state) == ("security_group", "present")
        )
        report = (ensure if state == "present" else delete)(aws, plan)
    except TriageError as exc:
        module.fail_json(msg=str(exc))
        return
    module.exit_json(changed=report.changed, resource=asdict(report))


if __name__ == "__main__":
    main()
