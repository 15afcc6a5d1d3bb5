"""C-CDA documents: conversion to FHIR and the CCD writer."""

__all__: list[str] = []
