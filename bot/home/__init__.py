"""The App Home tab, subscriptions and alerts (issue 12).

- ``tab``: the Home tab, published from cached datasets on ``app_home_opened``;
- ``subscriptions``: ``/usage subscribe``, ``subscriptions``, ``unsubscribe``: who may, and
  what they are told;
- ``store``: subscriptions and the schedule's claims (one row per piece of scheduled work and
  period, so that it runs once across restarts and replicas);
- ``schedule`` and ``alerts``: pure rules (when a subscription is due and what it covers; which
  alert conditions hold);
- ``runner``: the work loop's hook that starts due subscriptions and alert checks, and posts
  alerts when their reports land.
"""
