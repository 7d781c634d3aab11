"""Stand-ins for GitHub, AWS and runners, so every journey works on one machine without accounts.

`sandbox.github` is the GitHub simulator the test suite uses too (one implementation); `make run`
starts it beside moto's server and a runner simulator when sandbox mode is on. Never loaded in
production.
"""
