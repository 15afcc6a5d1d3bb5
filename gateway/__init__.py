"""The running gateway: configuration, storage, security, transport, initiating and responding sides, CLI."""

__all__: list[str] = []
