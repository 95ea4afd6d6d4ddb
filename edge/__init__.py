"""minegate edge runtime: one asyncio process per mine gateway."""

__version__ = "0.1.0"
