"""The pricing app (issue 12): real-time demand and surge pricing from an event stream.

Being built in slices (docs/pricing-plan.md); not registered as an app yet. What is here
is pure: ``surge.py`` (demand against supply, split into reasons) and ``rules.py`` (a
rule's smoothing, step limit and caps, in exact units).
"""
