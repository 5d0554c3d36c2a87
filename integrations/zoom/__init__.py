"""Zoom adapter: Server-to-Server OAuth + zoomus, implementing `integrations.base.MeetingProvider`."""

from integrations.zoom.adapter import ZoomProvider
from integrations.zoom.settings import ZoomAdapterSettings

__all__ = ["ZoomAdapterSettings", "ZoomProvider"]
