"""Zoom: Server-to-Server OAuth + zoomus adapter, webhook verification and normalisation, plugin."""
