"""Generated protocol stubs for ``robustedge.v1`` (``make proto``); do not edit."""
