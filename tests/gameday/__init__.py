"""The game day: incidents played on 127.0.0.1 against the real Prometheus
and Alertmanager running the rendered rules and routing, and the pages they
raise, compared with what an on-call engineer should get.

harness.py runs one live incident (its own Prometheus, Alertmanager, demo
gateway, stand-ins and load); synthetic.py one whose history is too long to
play live (promtool evaluates the rendered rules over written series, the real
Alertmanager routes what fires); scenarios.py lists the incidents and their
expected pages; report.py prints the time-to-notify table (`make gameday`).
"""
