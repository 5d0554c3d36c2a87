"""`salesmeet demo`: the service on its sandbox providers, filled with a month of a small sales org.

    org.py      who works here, and the customers they meet
    plan.py     the month: which meetings, and what really happens in each (seeded, provider-neutral)
    players.py  each provider's emulator plays what happened, and sends its webhooks
    hubspot.py  the demo's HubSpot portal: customer meetings booked on deals, sent by the deal
                workflow's signed webhook; the engagements written back
    config.py   the demo's config: config/sandbox.yaml with the org's routing and costs
    run.py      start the service, book the customer meetings on HubSpot and create the internal
                ones through the API, play, reconcile, write back, serve

This package may import the emulators (`integrations.sandbox`); `service/` never imports it, except
the CLI's `demo` command, lazily.
"""
