"""Foresight: a self-hosted platform for the predictions a business operates on."""

__version__ = "0.1.0"
