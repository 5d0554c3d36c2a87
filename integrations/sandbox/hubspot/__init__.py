"""A loopback emulator of the parts of HubSpot salesmeet uses: CRM Meetings v3 with associations and
rate limits, workflow "Send a webhook" deliveries (signed v3/v2/v1 or API key), and the
video-conferencing extension's calls. Product code: strict, with fault injection."""
