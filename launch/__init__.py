"""The launch code, on top of every other layer: the processes the Procfile
runs (web, worker, clock) and the ``fairdrop`` command that starts them, the
embedded servers of the default set-up (Redis, the demo's SMTP, OpenID and
Stripe stand-ins) and the demo. Nothing below imports from here."""
