"""Hosts: packaging and running the project on the machines it is deployed to.

Serves both the streamer host and the triage host (playbooks/roles): `wheelhouse` (the
wheels the controller ships), `role_settings` (each role's settings file), `supervisor`
(a service kept running where there is no systemd) and `processes` (the one process
manager: pid files, liveness, start and stop, also used by the stand-ins and the live
half's local services). `tweet-triage host ...` (`cli`) is what the playbooks call.
"""
