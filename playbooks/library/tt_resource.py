#!/usr/bin/python
"""Ansible module: converge or delete one resource of the tweet-triage stack.

The playbooks converge the whole stack through this module, one resource per call, with the
very definitions `tweet-triage aws create|destroy` and the notebooks use
(tweet_triage.cloud.resources). The key pair's private key is written 0600 inside this process
and never travels through task results.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: tt_resource
short_description: Ensure or delete one resource of the tweet-triage AWS stack
description:
  - Runs the idempotent C(ensure) or C(delete) step of C(tweet_triage.cloud.resources) for
    the resource; C(changed) is true only when AWS (or the private key file) was modified.
  - Settings come from the environment and .env, as for every tweet-triage command.
  - In check mode every AWS call that would change something is refused before it is sent;
    the result says whether (and with which call) the resource would change.
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
  description: kind, name, id, state and details of the resource after the call (check mode
    and would_change - before it).
  type: dict
  returned: always
would_change:
  description: check mode only - the first AWS call the step would have made.
  type: str
  returned: when check mode found a change
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
    "triage_role",
    "triage_instance_profile",
    "triage_security_group",
    "triage_instance",
]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "kind": {"type": "str", "required": True, "choices": KINDS},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
        supports_check_mode=True,
    )
    try:
        from tweet_triage.cloud.aws import WouldChange, connect
        from tweet_triage.cloud.preflight import preflight
        from tweet_triage.cloud.resources import BY_KIND
        from tweet_triage.cloud.stack import converge
        from tweet_triage.config import load_settings
        from tweet_triage.errors import TriageError
    except ImportError as exc:
        module.fail_json(
            msg=f"cannot import tweet_triage ({exc}): run the playbook with the project's "
            "venv (make -f Makefile-stream ...) and "
            "ansible_python_interpreter={{ ansible_playbook_python }}"
        )
        return
    kind, present = module.params["kind"], module.params["state"] == "present"
    try:
        settings = load_settings()
        aws = connect(settings, check_mode=module.check_mode)
        plan = preflight(
            settings, aws, detect_operator_cidr=present and kind.endswith("security_group")
        )
        if not present and BY_KIND[kind].delete is None:
            module.exit_json(changed=False, msg=f"{kind} is deleted with its parent resource")
        try:
            report = converge(aws, plan, kind, present=present)
        except WouldChange as change:
            before = BY_KIND[kind].describe(aws, plan)
            module.exit_json(changed=True, would_change=change.what, resource=asdict(before))
            return
    except TriageError as exc:
        module.fail_json(msg=str(exc))
        return
    module.exit_json(changed=report.changed, resource=asdict(report))


if __name__ == "__main__":
    main()
