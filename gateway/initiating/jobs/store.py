"""The one store of a tenant's pull jobs: every step class combined."""

from __future__ import annotations

from gateway.initiating.jobs.conversion import ConversionSteps
from gateway.initiating.jobs.discovery import DiscoverySteps
from gateway.initiating.jobs.lifecycle import JobSteps
from gateway.initiating.jobs.query import QuerySteps
from gateway.initiating.jobs.retrieve import RetrieveSteps

__all__ = ["JobStore"]


class JobStore(JobSteps, DiscoverySteps, QuerySteps, RetrieveSteps, ConversionSteps):
    """Every persisted step of a pull for one tenant."""
