"""The gateway's application layer for flow export: the status hub that turns the shared watches
into per-node changes for every subscriber, and the start/stop orchestration that writes the
desired state as the calling user."""
