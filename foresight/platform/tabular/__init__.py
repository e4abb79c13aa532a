"""Tabular binary classification on any user table: signature, models, explanations."""

from foresight.platform.tabular.signature import Column, FieldError, Signature

__all__ = ["Column", "FieldError", "Signature"]
