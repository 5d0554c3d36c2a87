"""HubSpot as a CRM plugin: workflow webhooks in, the video-conferencing extension, meeting
engagements (Meetings v3) out."""
